"""The save's only way to the outside world: activity calls, each with an idempotency key.

Activities are called by name (:class:`workflows.contracts.ActivityName`), so the workflow never
imports their implementations. Keys are derived from the save and the step, never the run id, so
a step repeated by a later run, or a retried activity, never sends a second email or task.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from playbook_defs.schema import Recipient
from playbook_defs.vocabulary import RiskColour
from workflows import rules
from workflows.contracts import (
    OPERATIONS,
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
from workflows.models import CommitmentStatus, NeedsAttention, TaskStatus

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
OPERATOR_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=4,
)
"""An operator's retry: a server still down says so within a minute instead of keeping them waiting."""
ATTENTION_PATCH = "operator-resolves-attention"
"""Items keep what a retry needs, operations are told of each, operators retry or skip them
(``workflows/save/attention.py``); runs started before this replay as they ran."""
NOTICE_TEMPLATE = "needs_attention"


class StepNeedsAttention(ApplicationError):
    """A side effect failed for good; it is recorded on the save, and the step that asked goes on.
    Should one ever escape, it fails the run with its message instead of retrying a workflow task."""

    def __init__(self, step: str) -> None:
        super().__init__(f"{step}: failed for good; see the save's needs-attention list", non_retryable=True)


def permanent_failure(exc: ActivityError) -> ApplicationError | None:
    """The activity's own non-retryable error (bad data, an uncertain email), or None."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.non_retryable:
        return cause
    return None


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
        attention: bool = True,
    ) -> R:
        """Run the activity; a permanent failure is recorded as needing attention and raised as
        :class:`StepNeedsAttention` (``attention=False``: the activity's own error is raised instead)."""
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
        except ActivityError as exc:
            failure = permanent_failure(exc)
            if failure is None or not attention:
                raise
            self.needs_attention(summary, failure.type or "ApplicationError", failure.message, activity, arg, timeout)
            raise StepNeedsAttention(summary) from exc
        finally:
            supervisor.inflight -= 1

    def needs_attention(
        self, step: str, error: str, message: str, activity: ActivityName, arg: Any, timeout: timedelta
    ) -> NeedsAttention:
        """Record a step that failed for good, so the UI and ``saves show`` say so (never silent).

        Items are ``a1``, ``a2``...; under :data:`ATTENTION_PATCH` the item keeps the activity and its
        request (what an operator's retry runs again) and operations are told (:meth:`notify`)."""
        s = self._run.s
        item = NeedsAttention(
            id=f"a{len(s.needs_attention) + 1}", step=step, error=error, message=message, since=workflow.now()
        )
        s.needs_attention.append(item)
        if workflow.patched(ATTENTION_PATCH):
            item.activity = activity.value
            item.request = arg.model_dump(mode="json") if isinstance(arg, BaseModel) else arg
            item.timeout_seconds = timeout.total_seconds()
            self._run.supervisor.spawn(self.notify(item))
        self._run.publish()
        workflow.logger.warning("step needs attention", extra=self._run.log_extra(step=step, error=error, item=item.id))
        return item

    async def notify(self, item: NeedsAttention) -> None:
        """One email to operations (``SAVES_OPS_EMAIL``) per item, keyed by the item so it is never
        sent twice; a failing notice is only logged (``attention=False``): it never needs attention itself."""
        request = EmailRequest(
            key=self.key(f"attention/{item.id}"),
            save=self.ref,
            template=NOTICE_TEMPLATE,
            to=OPERATIONS,
            context={"item": {"id": item.id, "step": item.step, "error": item.error, "message": item.message}},
            at=workflow.now(),
        )
        try:
            await self.call(
                ActivityName.SEND_EMAIL,
                request,
                f"Tell operations: {item.id} needs attention",
                EmailReceipt,
                EMAIL_TIMEOUT,
                attention=False,
            )
        except ActivityError as exc:
            workflow.logger.warning(
                "operations not told", extra=self._run.log_extra(item=item.id, error=str(exc.cause or exc))
            )
        item.notified = True

    async def rerun(
        self, activity: str, request: Any, summary: str, result_type: type[Any] | None, timeout: timedelta
    ) -> Any:
        """An operator's retry of a step that needed attention: the activity again, with a few
        attempts only (the operator waits for the answer), counted so a phase ends only after it."""
        supervisor = self._run.supervisor
        supervisor.inflight += 1
        try:
            return await workflow.execute_activity(
                activity,
                request,
                result_type=result_type,
                start_to_close_timeout=timeout,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=OPERATOR_RETRY,
                summary=summary,
            )
        finally:
            supervisor.inflight -= 1

    async def create_task(self, request: CrmTaskRequest, summary: str) -> CrmTaskRef | None:
        """The CRM task, or None when the CRM refused it for good (recorded as needing attention);
        the save still chases the work and escalates it by email."""
        try:
            return await self.call(ActivityName.CREATE_CRM_TASK, request, summary, CrmTaskRef)
        except StepNeedsAttention:
            return None

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
        try:
            await self.call(ActivityName.SEND_EMAIL, request, summary, EmailReceipt, EMAIL_TIMEOUT)
        except StepNeedsAttention:
            return
        s.emails_sent += 1

    def digest(self, now: datetime) -> dict[str, Any]:
        """What emails say about the save: progress over the last week, what is next and late."""
        return rules.progress_digest(self._run.s, now, since=now - timedelta(days=7))

    async def set_risk(self, risk: RiskColour, reason: str) -> None:
        request = RiskStatusRequest(save=self.ref, risk=risk, reason=reason, at=workflow.now())
        with contextlib.suppress(StepNeedsAttention):
            await self.call(
                ActivityName.SET_RISK_STATUS, request, f"CRM risk status {risk.value}: {reason}", type(None)
            )
        self._run.s.risk = risk
        self._run.publish()

    async def note(self, name: str, text: str) -> None:
        request = NoteRequest(key=self.key(f"note/{name}"), save=self.ref, text=text, at=workflow.now())
        with contextlib.suppress(StepNeedsAttention):
            await self.call(ActivityName.ADD_TIMELINE_NOTE, request, f"CRM timeline note: {name}", type(None))

    async def close_crm(self, done: list[str] | None = None, cancelled: list[str] | None = None) -> None:
        request = CloseTasksRequest(done=done or [], cancelled=cancelled or [], at=workflow.now())
        with contextlib.suppress(StepNeedsAttention):
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
