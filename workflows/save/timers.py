"""Durable waits: a Temporal timer that also wakes when the awaited thing happens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow


async def wait_until(at: datetime, done: Callable[[], bool], summary: str) -> bool:
    """True if ``done`` holds before ``at``; False once ``at`` has passed without it."""
    if done():
        return True
    remaining = at - workflow.now()
    if remaining <= timedelta(0):
        return False
    try:
        await workflow.wait_condition(done, timeout=remaining, timeout_summary=summary)
    except TimeoutError:
        return done()
    return True


async def sleep_until(at: datetime, summary: str) -> None:
    """Sleep until ``at``; no timer at all when it has already passed (a run resumed late)."""
    remaining = at - workflow.now()
    if remaining > timedelta(0):
        await workflow.sleep(remaining, summary=summary)
