"""The outcome of a save (saved, partially saved with the ARR kept, or lost) and what follows it:
a saved customer enters 90 days of recovery, a lost one the exit path."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

from playbook_defs.vocabulary import OutcomeKind, RiskColour, Stage
from workflows import rules, triage
from workflows.models import Outcome, RecordOutcome, RecoveryState, Repeating, SaveState, TaskSource
from workflows.save import tasks
from workflows.save.guards import refuse_inactive

if TYPE_CHECKING:
    from workflows.save.context import SaveRun


def refuse_outcome(s: SaveState, request: RecordOutcome) -> str | None:
    refusal = refuse_inactive(s)
    if refusal is not None:
        return refusal
    if s.outcome is not None:
        return f"the outcome was already recorded: {s.outcome.kind.value} on {rules.when(s.outcome.at)}"
    if s.stage is Stage.EXIT:
        return f"triage sent this save to the exit path ({triage.exit_reason(s.triage)})"
    known = [c.id for c in s.playbook.outcome.success_criteria]
    unknown = [c for c in request.criteria_met if c not in known]
    if unknown:
        return f"unknown success criteria {unknown}; this playbook's are {known}"
    if request.kind is OutcomeKind.PARTIALLY_SAVED:
        if not request.arr_retained:
            return "a partially saved outcome needs arr_retained (the ARR kept)"
        if request.arr_retained >= s.account.arr:
            return (
                f"arr_retained {request.arr_retained:,.0f} is not below the account's ARR "
                f"{s.account.arr:,.0f}; record it as saved"
            )
    if request.kind is OutcomeKind.LOST and request.arr_retained:
        return "a lost outcome retains no ARR; leave arr_retained out"
    return None


def record(s: SaveState, request: RecordOutcome, now: datetime) -> Outcome:
    """Record the outcome; a saved outcome without a figure keeps the account's whole ARR."""
    known = [c.id for c in s.playbook.outcome.success_criteria]
    if request.kind is OutcomeKind.LOST:
        retained = 0.0
    elif request.arr_retained is not None:
        retained = request.arr_retained
    else:
        retained = s.account.arr
    s.outcome = Outcome(
        kind=request.kind,
        reason=request.reason,
        arr_retained=retained,
        criteria_met=[c for c in known if c in request.criteria_met],
        criteria_missed=[c for c in known if c not in request.criteria_met],
        recorded_by=request.by,
        at=now,
    )
    return s.outcome


def mark_overdue(s: SaveState) -> None:
    s.outcome_watch.overdue = True


def conclude(s: SaveState, now: datetime) -> None:
    """After the outcome: lost -> the exit path (all open work cancelled); saved -> recovery starts
    (the playbook's open steps cancelled; help, approvals and commitments carry on)."""
    assert s.outcome is not None
    steps_left = [t for t in s.tasks.values() if t.source is TaskSource.STEP and t.is_active]
    if s.outcome.kind is OutcomeKind.LOST:
        steps_left = [t for t in s.tasks.values() if t.is_active]
        s.exit_started_at = now
    else:
        plan = s.playbook.recovery
        s.recovery = RecoveryState(
            started_at=now,
            ends_at=now + plan.duration,
            close_by=now + plan.duration + plan.close_grace,
            touchpoints=Repeating(next_at=now + plan.touchpoint_every),
            value_reports=Repeating(next_at=now + plan.value_report_every),
        )
    tasks.cancel_active(s, steps_left)


def note_text(outcome: Outcome) -> str:
    return (
        f"Outcome: {outcome.kind.value.replace('_', ' ')} ({outcome.reason}); ARR retained {outcome.arr_retained:,.0f}"
    )


async def tell_crm(run: SaveRun) -> None:
    """The CRM hears the outcome: tasks closed, a timeline note, and yellow risk for a saved account."""
    s = run.s
    assert s.outcome is not None
    effects = run.effects
    jobs = [effects.sync_crm_tasks(), effects.note("outcome", note_text(s.outcome))]
    if s.recovery is not None:
        jobs.append(effects.set_risk(RiskColour.YELLOW, "Saved; 90-day recovery starts"))
    await asyncio.gather(*jobs)
