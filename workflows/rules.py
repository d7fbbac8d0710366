"""Pure functions over a save's state: its stage, what is overdue, what is due next.

No Temporal calls here, so the workflow, the command line and the tests read a save the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from playbook_defs.schema import PlaybookDef, StepKind
from playbook_defs.vocabulary import STEP_STAGES, Stage
from workflows import search_attributes as sa
from workflows import triage
from workflows.contracts import AccountSnapshot
from workflows.models import (
    AttentionStatus,
    AutomatedStep,
    CommitmentStatus,
    FirstContact,
    OutcomeWatch,
    PreviousSave,
    Repeating,
    SaveState,
    Task,
    TaskSource,
    TaskStatus,
    Trigger,
    TriggerRecord,
)


def current_stage(state: SaveState) -> Stage:
    """Closed, exit or recovery once reached; otherwise the earliest stage with work left."""
    if state.closed_at is not None:
        return Stage.CLOSED
    if triage.holding(state.triage):
        return Stage.TRIAGE
    if state.exit_started_at is not None:
        return Stage.EXIT
    if state.recovery is not None:
        return Stage.RECOVERY
    for stage in STEP_STAGES:
        if any(t.source is TaskSource.STEP and t.stage is stage and t.is_active for t in state.tasks.values()):
            return stage
    return Stage.AWAITING_OUTCOME


@dataclass(frozen=True)
class Deadline:
    """Something with a due time that is not done yet."""

    item: str
    title: str
    owner: str
    due_at: datetime


def open_deadlines(state: SaveState) -> list[Deadline]:
    """Open tasks, open commitments and a missing outcome, soonest first."""
    found = [
        Deadline(f"task/{t.id}", t.title, t.owner.value, t.due_at)
        for t in state.tasks.values()
        if t.status is TaskStatus.OPEN and t.due_at is not None
    ]
    found += [
        Deadline(f"commitment/{c.id}", c.what, c.owner.value, c.due_at)
        for c in state.commitments
        if c.status is CommitmentStatus.OPEN
    ]
    if state.outcome is None and state.stage not in (Stage.CLOSED, Stage.EXIT, Stage.TRIAGE):
        found.append(Deadline("outcome", "Outcome decision", "csm", state.outcome_watch.due_at))
    return sorted(found, key=lambda d: d.due_at)


def overdue(state: SaveState, now: datetime) -> list[Deadline]:
    return [d for d in open_deadlines(state) if d.due_at < now]


def escalation_level(state: SaveState) -> int:
    """The highest ladder rung fired for something that is still not done."""
    still_open = {d.item for d in open_deadlines(state)}
    levels = [e.level for e in state.escalations if e.item in still_open]
    return max(levels, default=0)


def check_tasks_done(state: SaveState) -> bool:
    checks = [t for t in state.tasks.values() if t.source is TaskSource.RECOVERY_CHECK]
    planned = len(state.playbook.recovery.checks)
    return len(checks) == planned and all(t.status is TaskStatus.DONE for t in checks)


def next_check_due(state: SaveState) -> datetime | None:
    """During recovery, when the next check (30-day check-in, 60-day review, QBR) is due."""
    r = state.recovery
    if r is None or r.completed or state.closed_at is not None:
        return None
    dues = []
    for check in state.playbook.recovery.checks:
        task = state.tasks.get(check.id)
        if task is None:
            dues.append(r.started_at + check.at + check.due_within)
        elif task.is_active:
            dues.append(task.due_at or r.started_at + check.at + check.due_within)
    return min(dues, default=None)


def search_values(state: SaveState, now: datetime) -> sa.SearchValues:
    """The search attributes of a save; ids, enums, numbers and dates only."""
    deadlines = open_deadlines(state)
    return {
        sa.ACCOUNT_ID: state.account.account_id,
        sa.PLAYBOOK: state.playbook.id,
        sa.STAGE: state.stage.value,
        sa.RISK: state.risk.value,
        sa.TIER: state.account.tier.value,
        sa.OWNER: state.account.csm_id,
        sa.ARR: float(state.account.arr),
        sa.OUTCOME: state.outcome.kind.value if state.outcome else None,
        sa.FIRST_CONTACT_BROKEN: state.first_contact.kept is False,
        sa.ESCALATION_LEVEL: escalation_level(state),
        sa.OVERDUE_COUNT: sum(1 for d in deadlines if d.due_at < now),
        sa.NEXT_DEADLINE: deadlines[0].due_at if deadlines else None,
        sa.NEXT_CHECK: next_check_due(state),
        sa.NEEDS_ATTENTION: needs_attention(state),
    }


def needs_attention(state: SaveState) -> bool:
    """Whether a step that failed for good still waits for an operator (neither retried with
    success nor skipped)."""
    return any(item.status in (AttentionStatus.OPEN, AttentionStatus.RETRYING) for item in state.needs_attention)


def when(moment: datetime | None) -> str:
    """A timestamp as people read it in an email or a task: ``Tue 24 Nov 14:00 UTC``."""
    return moment.strftime("%a %d %b %H:%M UTC") if moment else "not set"


def _task_line(task: Task) -> dict[str, str]:
    return {"title": task.title, "owner": task.owner.value, "due": when(task.due_at)}


def progress_digest(state: SaveState, now: datetime, since: datetime) -> dict[str, Any]:
    """What the weekly update says: done since ``since``, in progress, next steps, timeline status."""
    done = [
        t.title
        for t in state.tasks.values()
        if t.status is TaskStatus.DONE and t.done_at is not None and t.done_at >= since
    ]
    in_progress = [_task_line(t) for t in state.tasks.values() if t.status is TaskStatus.OPEN]
    upcoming = [t for t in state.tasks.values() if t.status is TaskStatus.PENDING]
    late = overdue(state, now)
    return {
        "done": done,
        "in_progress": in_progress,
        "next_steps": [t.title for t in upcoming[:5]],
        "on_track": not late,
        "overdue": [{"title": d.title, "owner": d.owner, "due": when(d.due_at)} for d in late],
        "commitments": [
            {"what": c.what, "due": when(c.due_at), "status": c.status.value}
            for c in state.commitments
            if c.status in (CommitmentStatus.OPEN, CommitmentStatus.AWAITING_APPROVAL)
        ],
        "stage": state.stage.value.replace("_", " "),
        "playbook": state.playbook.name,
        "root_cause": state.root_cause.summary if state.root_cause else None,
    }


def new_state(
    save_id: str,
    account: AccountSnapshot,
    playbook: PlaybookDef,
    trigger: Trigger,
    now: datetime,
    previous: PreviousSave | None,
) -> SaveState:
    """A fresh save: every step of the playbook that applies to the account's tier, pending."""
    tasks: dict[str, Task] = {}
    automated: dict[str, AutomatedStep] = {}
    skipped: list[str] = []
    for step in playbook.steps:
        if not step.applies_to(account.tier):
            skipped.append(step.id)
        elif step.kind is StepKind.TASK:
            assert step.owner is not None
            due_within = playbook.first_contact_within if step.first_contact else step.due_within
            assert due_within is not None
            tasks[step.id] = Task(
                id=step.id,
                title=step.title,
                source=TaskSource.STEP,
                owner=step.owner,
                stage=step.stage,
                guidance=step.guidance,
                due_within=due_within,
                ladder=playbook.ladder(step),
            )
        else:
            automated[step.id] = AutomatedStep(id=step.id)
    first = playbook.first_contact_step
    cadence = playbook.cadence
    return SaveState(
        save_id=save_id,
        account=account,
        playbook=playbook,
        opened_at=now,
        triggers=[TriggerRecord(trigger=trigger, received_at=now)],
        first_contact=FirstContact(
            step_id=first.id, limit=playbook.first_contact_within, deadline=now + playbook.first_contact_within
        ),
        tasks=tasks,
        automated=automated,
        skipped_steps=skipped,
        customer_updates=Repeating(next_at=now + cadence.customer_update_every),
        internal_status=Repeating(next_at=now + cadence.internal_status_every),
        outcome_watch=OutcomeWatch(due_at=now + playbook.outcome.deadline),
        previous=previous,
    )
