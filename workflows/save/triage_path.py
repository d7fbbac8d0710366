"""Triage before effort: an exit path (dead zone or farewell) waits out the override window before
it sends anything, because a goodbye cannot be unsent; a CS manager may override within it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from temporalio import workflow

from playbook_defs.triage_rules import SavePath
from playbook_defs.vocabulary import Stage
from workflows import rules, triage
from workflows.models import SaveState
from workflows.save.exit_path import cancel_unopened
from workflows.save.timers import wait_until

if TYPE_CHECKING:
    from workflows.save.context import SaveRun


def refuse_override(s: SaveState, now: datetime) -> str | None:
    if s.stage is Stage.CLOSED:
        return f"the save closed on {rules.when(s.closed_at)} ({s.closed_reason})"
    if s.outcome is not None:
        return f"the outcome was already recorded ({s.outcome.kind.value}); triage can no longer change the path"
    return triage.override_refusal(s.triage, now)


def start_effort(s: SaveState, now: datetime) -> SaveState:
    """The window is over: the exit path starts, or the playbook's plan starts from ``now`` with the
    48-hour rule still counted from the risk flag (triage must not hide the wait)."""
    decision = s.triage
    assert decision is not None
    decision.effort_started_at = now
    if decision.path is SavePath.EXIT:
        s.exit_started_at = now
        cancel_unopened(s)
        return s
    fresh = rules.new_state(s.save_id, s.account, s.playbook, s.triggers[0].trigger, now, s.previous)
    return fresh.model_copy(
        update={
            "triggers": s.triggers,
            "triggers_not_kept": s.triggers_not_kept,
            "first_contact": s.first_contact,
            "triage": decision,
            "run_number": s.run_number,
            "emails_sent": s.emails_sent,
        }
    )


async def hold(run: SaveRun) -> None:
    """Wait out the override window (or a CS manager's review), then start the chosen path."""
    decision = run.s.triage
    assert decision is not None
    await wait_until(decision.window_closes_at, lambda: decision.final, "Triage override window (CS manager)")
    run.state = start_effort(run.s, workflow.now())
    run.publish()
