"""Promises made to the customer, each with an owner and a due date, chased like a task: one broken
promise can kill a save. A discount above the playbook's guardrail waits for its approver first."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from temporalio import workflow

from playbook_defs.vocabulary import Stage
from workflows.contracts import CrmTaskRequest
from workflows.models import (
    AddCommitment,
    Commitment,
    CommitmentStatus,
    FulfilCommitment,
    SaveState,
    Task,
    TaskSource,
)
from workflows.save import ladder
from workflows.save.guards import refuse_inactive

if TYPE_CHECKING:
    from workflows.save.context import SaveRun


def refuse_add(s: SaveState, request: AddCommitment, now: datetime) -> str | None:
    refusal = refuse_inactive(s)
    if refusal is not None:
        return refusal
    if s.stage is Stage.EXIT:
        return "the save was lost; no new commitments"
    if (request.due_at is None) == (request.due_in is None):
        return "give exactly one of due_at or due_in"
    if request.due_at is not None and request.due_at <= now:
        return f"due_at {request.due_at.isoformat()} is in the past"
    if request.due_in is not None and request.due_in <= timedelta(0):
        return "due_in must be longer than zero"
    return None


def add(s: SaveState, request: AddCommitment, now: datetime) -> tuple[Commitment, Task | None]:
    """Record the promise; returns it and, when the discount needs approval, the approval task."""
    due_at = request.due_at or now + (request.due_in or timedelta(0))
    policy = s.playbook.concessions
    needs_approval = (
        policy is not None
        and request.discount_pct is not None
        and request.discount_pct > policy.max_discount_pct_without_approval
    )
    c = Commitment(
        id=f"c{len(s.commitments) + 1}",
        what=request.what,
        owner=request.owner,
        due_at=due_at,
        made_at=now,
        made_by=request.by,
        discount_pct=request.discount_pct,
        status=CommitmentStatus.AWAITING_APPROVAL if needs_approval else CommitmentStatus.OPEN,
    )
    s.commitments.append(c)
    approval = None
    if needs_approval and policy is not None:
        approval = Task(
            id=f"approve_{c.id}",
            source=TaskSource.APPROVAL,
            owner=policy.approver,
            title=f"Approve {request.discount_pct:g}% discount: {request.what}",
            guidance=policy.guidance,
            due_within=policy.approval_due_within,
            ladder=s.playbook.default_escalation,
            commitment_id=c.id,
        )
        s.tasks[approval.id] = approval
        c.approval_task = approval.id
    return c, approval


def refuse_fulfil(s: SaveState, request: FulfilCommitment) -> str | None:
    refusal = refuse_inactive(s)
    if refusal is not None:
        return refusal
    known = {c.id: c for c in s.commitments}
    c = known.get(request.commitment_id)
    if c is None:
        return f"unknown commitment {request.commitment_id!r}; known: {', '.join(known) or 'none'}"
    if c.status is CommitmentStatus.AWAITING_APPROVAL:
        return f"commitment {c.id!r} is waiting for approval (task {c.approval_task})"
    if c.status is not CommitmentStatus.OPEN:
        return f"commitment {c.id!r} is already {c.status.value}"
    return None


def fulfil(s: SaveState, request: FulfilCommitment, now: datetime) -> Commitment:
    """Delivered: after the due date it still counts as broken (late)."""
    c = s.commitment(request.commitment_id)
    c.status = CommitmentStatus.FULFILLED
    c.fulfilled_at = now
    if now > c.due_at:
        c.overdue = True
    return c


def is_open(c: Commitment) -> bool:
    return c.status in (CommitmentStatus.OPEN, CommitmentStatus.AWAITING_APPROVAL)


async def run_commitment(run: SaveRun, c: Commitment) -> None:
    """Once approved, a CRM task for the owner; chased up the commitment ladder until delivered."""
    await workflow.wait_condition(lambda: c.status is not CommitmentStatus.AWAITING_APPROVAL)
    if c.status is not CommitmentStatus.OPEN:
        return
    effects = run.effects
    key = effects.key(f"commitment/{c.id}")
    if c.crm_task_id is None:
        request = CrmTaskRequest(
            key=key,
            save=effects.ref,
            owner=c.owner,
            title=f"Commitment to the customer: {c.what}",
            body="Promised to the customer; deliver it by the due date.",
            due_at=c.due_at,
            at=workflow.now(),
        )
        ref = await effects.create_task(request, f"CRM task for commitment {c.id}: {c.what}")
        c.crm_task_id = ref.task_id
    await ladder.chase(
        run,
        f"commitment/{c.id}",
        c.what,
        c.owner,
        c.due_at,
        run.s.playbook.commitment_escalation,
        lambda: c.status is not CommitmentStatus.OPEN,
        lambda: setattr(c, "overdue", True),
    )
    await effects.close_crm(done=[key])
