"""Shared fixtures: a real SMTP server and the settings of a test's saves. The servers' fixtures live
in ``tests/fixtures/`` (one module per kind of server)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from tests import codec_keys
from tests.harness import Harness, SmtpSink
from worker.devtools.servers import free_port
from worker.runtime.settings import Settings

Sink = TypeVar("Sink", bound=SmtpSink)

pytest_plugins = ["tests.fixtures.time_skipping", "tests.fixtures.dev_server"]

os.environ.setdefault("SAVES_ENCRYPTION_KEYS", codec_keys.TEST_KEYS)
"""Every ``saves`` process and ``Settings()`` a test makes encrypts with the test key, as production would."""

os.environ["COLUMNS"] = "200"
"""The command line's consoles take their width once, when ``worker.cli.common`` is imported: every test
reads tables as a 200-column terminal shows them, whichever test (or test process) imports it first."""


@contextmanager
def smtp_server(sink: Sink) -> Iterator[Sink]:
    """Run ``sink`` as a real SMTP server (aiosmtpd) in this process on a free port."""
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    sink.port = controller.port
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server in this process, keeping what it receives."""
    with smtp_server(SmtpSink()) as sink:
        yield sink


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpSink) -> Settings:
    return Settings(
        data_dir=tmp_path / "saves",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        email_from="Customer Success <cs@ourco.example.com>",
        encryption_keys=SecretStr(codec_keys.TEST_KEYS),
    )


@pytest.fixture
async def harness(time_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink) -> AsyncIterator[Harness]:
    async with Harness.running(time_env, settings, smtp) as h:
        yield h
