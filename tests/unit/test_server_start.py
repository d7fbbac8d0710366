"""A throwaway server that misses Temporal's 5-second start window is started again; other errors are not hidden."""

from __future__ import annotations

from typing import Any

import pytest

from worker.devtools.servers import STARTS, _started


async def test_a_server_that_did_not_come_up_in_time_is_started_again() -> None:
    tries: list[int] = []

    async def start() -> Any:
        tries.append(1)
        if len(tries) < STARTS:
            raise RuntimeError("Failed starting test server: ephemeral server did not start within 5s")
        return tries

    started: Any = await _started(start)
    assert started is tries and len(tries) == STARTS


async def test_other_errors_and_the_last_failure_are_raised() -> None:
    async def broken() -> Any:
        raise RuntimeError("no such binary")

    with pytest.raises(RuntimeError, match="no such binary"):
        await _started(broken)

    async def never() -> Any:
        raise RuntimeError("Failed starting dev server")

    with pytest.raises(RuntimeError, match="Failed starting"):
        await _started(never)
