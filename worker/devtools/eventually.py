"""Wait for something that becomes true a little later: visibility, a save opening, a scan starting.

One helper for every such wait in the tests, the simulator and the scripts, so each waits the same
way and fails the same way: a :class:`NotYet` that says what was awaited and what was last seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class NotYet(TimeoutError):
    """What was awaited did not happen in time; the message names it and the last value seen."""


def _truthy(value: object) -> bool:
    return bool(value)


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool] = _truthy,
    *,
    what: str,
    timeout: float = 20.0,
    interval: float = 0.05,
    ignore: tuple[type[Exception], ...] = (),
) -> T:
    """Call ``probe`` every ``interval`` seconds until ``until`` holds for its answer; return that answer.

    An exception in ``ignore`` counts as "not yet" (e.g. a save that has not opened). After
    ``timeout`` seconds of wall-clock time, raise :class:`NotYet`.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: object = "nothing yet"
    while True:
        try:
            value = await probe()
        except ignore as exc:
            last = exc
        else:
            if until(value):
                return value
            last = value
        if loop.time() > deadline:
            raise NotYet(f"timed out after {timeout:g} s waiting for {what}; last seen: {last!r}")
        await asyncio.sleep(interval)
