"""Every activity that runs long enough heartbeats, so a worker that dies is noticed within the
workflow's heartbeat timeout and its attempt is retried on another worker at once.

The activities themselves stay plain: this interceptor schedules a beat on the event loop every
third of the heartbeat timeout while the activity runs, and cancels it when it returns. Most
activities (a CRM write, a note) finish before the first beat is due, so they cost one timer
handle, not a task of their own: under a burst of thousands of saves, a task per activity was
measurable load on the worker's single event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)


class HeartbeatInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Beating(next)


class _Beating(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        timeout = activity.info().heartbeat_timeout
        if not timeout:
            return await super().execute_activity(input)
        beat = _Beat(asyncio.get_running_loop(), max(timeout.total_seconds() / 3, 0.1))
        try:
            return await super().execute_activity(input)
        finally:
            beat.stop()


class _Beat:
    """A heartbeat every ``every`` seconds from a loop timer (run in the activity's context)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, every: float) -> None:
        self._loop = loop
        self._every = every
        self._handle: asyncio.TimerHandle | None = loop.call_later(every, self._fire)

    def _fire(self) -> None:
        activity.heartbeat()
        self._handle = self._loop.call_later(self._every, self._fire)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
