"""Driving saves on the time-skipping test server safely: settle before a query, skip to a moment.

On that server a query that races a run's continue-as-new or completion can leave a time lock
behind, after which every time skip stalls. When no workflow task or activity is in flight and
nobody is skipping time, nothing can happen to the save, so a query is safe.

It also strands a run whose workflow task cancels a timer that fired while the task was with the
worker: it refuses the completion ("invalid history builder state for action", from its
``processCancelTimer``) and never times the task out nor sends it again, so the update that asked
waits forever. Between skips its clock runs at real pace, and a workflow's timers are set a few
milliseconds after the moment a skip lands on, so the next one is often due just after a skip
ends: an update sent then (a task completed, a promise kept) cancels a timer that fires meanwhile
on a loaded machine. :func:`skip_past_due_timers` lets those timers fire within the skip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

_TASK_DONE = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}
_ACTIVITY_DONE = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
}


def _in_flight(events: list[HistoryEvent]) -> bool:
    """A workflow task or an activity is open, or the run just continued as new."""
    if events and events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        return True
    task_open = False
    activities: set[int] = set()
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            task_open = True
        elif event.event_type in _TASK_DONE:
            task_open = False
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activities.add(event.event_id)
        elif event.event_type in _ACTIVITY_DONE:
            activities.discard(getattr(event, _ACTIVITY_DONE[event.event_type]).scheduled_event_id)
    return task_open or bool(activities)


async def skip_to(env: WorkflowEnvironment, target: datetime, attempts: int = 8, per_attempt: float = 15) -> None:
    """Skip the test server's time to ``target``. Under heavy CPU load its sleep call sometimes
    drops (an HTTP/2 error) or stalls; skipping to a moment, not by a duration, makes a retry safe."""
    for attempt in range(attempts):
        remaining = target - await env.get_current_time()
        if remaining <= timedelta(0):
            return
        try:
            await asyncio.wait_for(env.sleep(remaining), timeout=per_attempt)
        except (RPCError, TimeoutError):
            if attempt == attempts - 1:
                raise


async def settle(client: Client, workflow_id: str, attempts: int = 1000) -> list[HistoryEvent]:
    """Return once the workflow's current run has nothing in flight (or does not exist): its
    events, or none."""
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(attempts):
        try:
            events = [e async for e in handle.fetch_history_events()]
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return []
            raise
        if not _in_flight(events):
            return events
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{workflow_id} never settled")


def next_timer(events: list[HistoryEvent]) -> datetime | None:
    """When the run's earliest pending timer fires, or None if it has none."""
    pending: dict[int, datetime] = {}
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            fires = event.event_time.ToDatetime(tzinfo=UTC) + (
                event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            )
            pending[event.event_id] = fires
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            pending.pop(event.timer_fired_event_attributes.started_event_id, None)
        elif event.event_type == EventType.EVENT_TYPE_TIMER_CANCELED:
            pending.pop(event.timer_canceled_event_attributes.started_event_id, None)
    return min(pending.values(), default=None)


TIMER_GUARD = timedelta(seconds=10)
"""A timer due this soon after a skip fires within the skip (see the module docstring)."""


async def skip_past_due_timers(
    env: WorkflowEnvironment, workflow_ids: Iterable[str], guard: timedelta = TIMER_GUARD, rounds: int = 20
) -> None:
    """Settle each workflow; while one has a timer due within ``guard`` of the server's clock, skip
    just past it and settle again. Afterwards nothing a test sends next races a timer."""
    ids = list(workflow_ids)
    for _ in range(rounds):
        now = await env.get_current_time()
        due = [t for wid in ids if (t := next_timer(await settle(env.client, wid))) is not None and t <= now + guard]
        if not due:
            return
        await skip_to(env, min(due) + timedelta(milliseconds=1))
    raise TimeoutError(f"timers kept falling due within {guard} of the clock: {ids}")
