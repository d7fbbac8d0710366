"""Steps that need attention: operations are told once about each, and an operator retries it
(after fixing the data) or skips it with a reason; both decisions are recorded on the item.

The step that failed never waits for the operator: it goes on without its side effect (a task
is still chased and escalated, the next rung of a ladder still fires, a phase still ends). The
item keeps the activity and its request, so an operator's retry runs it again from the
``resolve_attention`` update, in whichever phase the save is by then. An email is sent once more
for each retry (``resend`` in the request: the outbox puts a failed or uncertain row back to
pending once for that token); every other activity is idempotent by its own key. Items get their
request and operations are told only under ``effects.ATTENTION_PATCH`` (``operator-resolves-attention``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

from playbook_defs.vocabulary import Stage
from workflows.contracts import ActivityName, CrmTaskRef, EmailReceipt
from workflows.models import (
    AttentionAction,
    AttentionDecision,
    AttentionStatus,
    NeedsAttention,
    ResolveAttention,
    SaveState,
)
from workflows.rules import when
from workflows.save.context import SaveRun, rejected
from workflows.save.effects import permanent_failure
from workflows.save.guards import refuse_inactive

_RESULT_TYPES: dict[str, type[Any]] = {
    ActivityName.CREATE_CRM_TASK.value: CrmTaskRef,
    ActivityName.SEND_EMAIL.value: EmailReceipt,
    ActivityName.ESCALATE.value: EmailReceipt,
}
_RESENDS = {ActivityName.SEND_EMAIL.value, ActivityName.ESCALATE.value}
"""Activities whose retry must send an email the outbox holds as failed or uncertain once more."""


def resume_notices(run: SaveRun) -> None:
    """Tell operations of items a previous run recorded but ended before telling (same email key)."""
    for item in run.s.needs_attention:
        if item.activity is not None and not item.notified:
            run.supervisor.spawn(run.effects.notify(item))


def refuse_resolve(s: SaveState, request: ResolveAttention) -> str | None:
    """Why an operator's decision is refused, or None."""
    item = s.attention(request.item)
    if item is None:
        ids = [i.id for i in s.needs_attention]
        known = f"its items: {', '.join(ids)}" if ids else "no step of it needs attention"
        return f"this save has no item {request.item!r} needing attention; {known}"
    if s.stage is Stage.CLOSED:
        return refuse_inactive(s)
    status = item.status
    last = item.decisions[-1] if item.decisions else None
    if status is AttentionStatus.RETRYING:
        return f"{item.id} is being retried now; its result comes with that retry"
    if status is AttentionStatus.RESOLVED and last is not None:
        return f"{item.id} was already retried by {last.by} on {when(last.at)}, and it worked"
    if status is AttentionStatus.SKIPPED and last is not None:
        return f"{item.id} was already skipped by {last.by} on {when(last.at)}: {last.reason}"
    if request.action is AttentionAction.RETRY and item.activity is None:
        return (
            f"{item.id} was recorded before operators could retry steps; skip it with a reason"
            " (an email of it can be resent with `saves crm outbox resend ID`)"
        )
    return None


async def resolve(run: SaveRun, request: ResolveAttention) -> NeedsAttention:
    """Record the decision; a retry runs the step's activity again and records what came of it."""
    s = run.s
    refusal = refuse_resolve(s, request)  # again: another decision may have started since validation
    if refusal is not None:
        raise rejected(refusal)
    item = s.attention(request.item)
    assert item is not None
    if request.action is AttentionAction.SKIP:
        item.decisions.append(
            AttentionDecision(
                action=AttentionAction.SKIP, by=request.by, at=workflow.now(), reason=request.reason, result="skipped"
            )
        )
        run.publish()
        workflow.logger.info("attention skipped", extra=run.log_extra(item=item.id))
        return item
    assert item.activity is not None
    retries = sum(1 for d in item.decisions if d.action is AttentionAction.RETRY)
    payload = item.request
    if item.activity in _RESENDS and isinstance(payload, dict):
        payload = {**payload, "resend": f"{item.id}/retry/{retries + 1}"}
    item.retrying = True
    run.publish()
    succeeded = False
    try:
        result = await run.effects.rerun(
            item.activity,
            payload,
            f"Operator retry of {item.id}: {item.step}",
            _RESULT_TYPES.get(item.activity),
            timedelta(seconds=item.timeout_seconds),
        )
    except ActivityError as exc:
        failure = permanent_failure(exc)
        if failure is not None:
            item.error, item.message = failure.type or "ApplicationError", failure.message
            outcome = f"failed again: {failure.message}"
        else:
            cause = exc.cause
            outcome = f"failed: {getattr(cause, 'message', None) or cause or exc}; retry later"
    else:
        _apply(s, item, result)
        succeeded = True
        outcome = "done"
    finally:
        item.retrying = False
    item.decisions.append(
        AttentionDecision(
            action=AttentionAction.RETRY,
            by=request.by,
            at=workflow.now(),
            reason=request.reason,
            result=outcome,
            succeeded=succeeded,
        )
    )
    run.publish()
    workflow.logger.info("attention retried", extra=run.log_extra(item=item.id, succeeded=succeeded))
    return item


def _apply(s: SaveState, item: NeedsAttention, result: Any) -> None:
    """What the step would have recorded had its side effect worked the first time."""
    if item.activity == ActivityName.SEND_EMAIL.value:
        s.emails_sent += 1
    elif item.activity == ActivityName.CREATE_CRM_TASK.value and isinstance(result, CrmTaskRef):
        assert isinstance(item.request, dict)
        kind, _, ident = str(item.request.get("key", "")).removeprefix(f"{s.save_id}/").partition("/")
        if kind == "task" and ident in s.tasks:
            s.tasks[ident].crm_task_id = result.task_id
        elif kind == "commitment":
            for c in s.commitments:
                if c.id == ident:
                    c.crm_task_id = result.task_id
