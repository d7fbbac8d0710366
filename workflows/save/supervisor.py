"""The background work of one phase: every step, ladder and cadence runs as a task of its own.

A phase ends by stopping them all, after letting running activities finish, so no side effect is
left in flight when the run continues as new. A crashed task fails the workflow task (Temporal
retries it), rather than leaving the save silently stuck.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from temporalio import workflow

from workflows.save.timers import wait_until


class Supervisor:
    """Starts, watches and stops the background tasks of a phase."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        self._crash: BaseException | None = None
        self.inflight = 0
        """Activities running now; a phase ends only once this is zero."""
        self.stopping = False
        self.accepting = False
        """True while a phase runs: work an update adds starts at once, else the next phase starts it."""

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        task.add_done_callback(self._note_crash)
        self._tasks.append(task)

    def spawn_from_handler(self, coro: Coroutine[Any, Any, None]) -> None:
        """Start work an update added, if a phase is running; otherwise the next phase starts it
        (it resumes carried-over work), so nothing is chased twice."""
        if self.accepting:
            self.spawn(coro)
        else:
            coro.close()

    def refuses_new_effects(self) -> bool:
        """A stopping phase's own steps start no new side effect (handlers still may)."""
        return self.stopping and asyncio.current_task() in self._tasks

    def _note_crash(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and self._crash is None:
            self._crash = task.exception()

    async def wait(
        self, condition: Callable[[], bool], until: datetime | None = None, summary: str | None = None
    ) -> bool:
        """Wait for ``condition`` (True) or ``until`` (False); a crashed step fails the workflow task."""

        def ready() -> bool:
            return self._crash is not None or condition()

        if until is None:
            await workflow.wait_condition(ready)
        elif not await wait_until(until, ready, summary or "Phase deadline"):
            return False
        if self._crash is not None:
            raise self._crash
        return True

    async def stop(self) -> None:
        """Let running activities finish, then stop every timer and waiting step of this phase."""
        self.accepting = False
        self.stopping = True
        await workflow.wait_condition(lambda: self.inflight == 0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self.stopping = False
