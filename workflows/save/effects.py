"""The save's only way to the outside world: activity calls, each with an idempotency key.

Activities are called by name (:class:`workflows.contracts.ActivityName`), so the workflow never
imports their implementations. Keys are derived from the save and the step, never the run id, so
a step repeated by a later run, or a retried activity, never sends a second email or task.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

from playbook_defs.schema import Recipient
from playbook_defs.vocabulary import RiskColour
from workflows import rules
from workflows.contracts import (
    ActivityName,
    CloseTasksRequest,
    CrmTaskRef,
    CrmTaskRequest,
    EmailReceipt,
    EmailRequest,
    NoteRequest,
    RiskStatusRequest,
    SaveRef,
)
from workflows.models import CommitmentStatus, TaskStatus

if TYPE_CHECKING:
    from workflows.save.context import SaveRun

R = TypeVar("R")

ACTIVITY_TIMEOUT = timedelta(seconds=30)
EMAIL_TIMEOUT = timedelta(seconds=90)
HEARTBEAT_TIMEOUT = timedelta(seconds=10)
"""A worker that dies mid-activity is noticed this fast and the attempt retried on another worker
(activities heartbeat through the worker's interceptor); without it the retry waits the full timeout."""
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
"""A CRM or mail server that is down delays a step, never drops it. Data that can never succeed
raises a non-retryable error in the activity itself."""


class Effects:
    """Activity calls of one save run, counted so a phase ends only when none is in flight."""

    def __init__(self, run: SaveRun) -> None:
        self._run = run

    @property
    def ref(self) -> SaveRef:
        s = self._run.s
        return SaveRef(account_id=s.account.account_id, save_id=s.save_id, playbook_id=s.playbook.id)

    def key(self, path: str) -> str:
        """Idempotency key of a side effect: the save and the step, never the run id."""
        return f"{self._run.s.save_id}/{path}"

    async def call(
        self,
        activity: ActivityName,
        arg: Any,
        summary: str,
        result_type: type[R],
        timeout: timedelta = ACTIVITY_TIMEOUT,
    ) -> R:
        supervisor = self._run.supervisor
        if supervisor.refuses_new_effects():
            raise asyncio.CancelledError("the phase is ending")
        supervisor.inflight += 1
        try:
            result: R = await workflow.execute_activity(
                activity.value,
                arg,
                result_type=result_type,
                start_to_close_timeout=timeout,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=RETRY,
                summary=summary,
            )
            return result
        finally:
            supervisor.inflight -= 1

    async def create_task(self, request: CrmTaskRequest, summary: str) -> CrmTaskRef:
        return await self.call(ActivityName.CREATE_CRM_TASK, request, summary, CrmTaskRef)

    async def email(self, template: str, to: Recipient, key: str, context: dict[str, Any], summary: str) -> None:
        s = self._run.s
        now = workflow.now()
        request = EmailRequest(
            key=self.key(f"email/{key}"),
            save=self.ref,
            template=template,
            to=to,
            context={"save": self.digest(now), **context},
            at=now,
        )
        await self.call(ActivityName.SEND_EMAIL, request, summary, EmailReceipt, EMAIL_TIMEOUT)
        s.emails_sent += 1

    def digest(self, now: datetime) -> dict[str, Any]:
        """What emails say about the save: progress over the last week, what is next and late."""
        return rules.progress_digest(self._run.s, now, since=now - timedelta(days=7))

    async def set_risk(self, risk: RiskColour, reason: str) -> None:
        request = RiskStatusRequest(save=self.ref, risk=risk, reason=reason, at=workflow.now())
        await self.call(ActivityName.SET_RISK_STATUS, request, f"CRM risk status {risk.value}: {reason}", type(None))
        self._run.s.risk = risk
        self._run.publish()

    async def note(self, name: str, text: str) -> None:
        request = NoteRequest(key=self.key(f"note/{name}"), save=self.ref, text=text, at=workflow.now())
        await self.call(ActivityName.ADD_TIMELINE_NOTE, request, f"CRM timeline note: {name}", type(None))

    async def close_crm(self, done: list[str] | None = None, cancelled: list[str] | None = None) -> None:
        request = CloseTasksRequest(done=done or [], cancelled=cancelled or [], at=workflow.now())
        await self.call(ActivityName.CLOSE_CRM_TASKS, request, "Close CRM tasks", int)

    async def sync_crm_tasks(self) -> None:
        """Bring every CRM task of this save in line with the state at a phase boundary."""
        s = self._run.s
        done = [self.key(f"task/{t.id}") for t in s.tasks.values() if t.status is TaskStatus.DONE]
        done += [self.key(f"commitment/{c.id}") for c in s.commitments if c.status is CommitmentStatus.FULFILLED]
        if s.outcome is not None:
            done.append(self.key("outcome"))
        cancelled = [self.key(f"task/{t.id}") for t in s.tasks.values() if t.status is TaskStatus.CANCELLED]
        if s.exit_started_at is not None or s.closed_at is not None:
            cancelled += [self.key(f"commitment/{c.id}") for c in s.commitments if c.status is CommitmentStatus.OPEN]
        await self.close_crm(done=done, cancelled=cancelled)
