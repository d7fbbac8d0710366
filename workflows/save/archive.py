"""How a save ends: closed (recovered, lost, or a farewell), or reopened after a relapse. Either
way its post-mortem and history are archived, because they outlive Temporal's retention."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from playbook_defs.vocabulary import RiskColour, TriggerKind
from workflows.models import PreviousSave, Relapse, SaveInput, SaveResult, Trigger
from workflows.postmortem import ARCHIVE_ACTIVITY, ArchiveRequest
from workflows.save import tasks

if TYPE_CHECKING:
    from workflows.save.context import SaveRun

ARCHIVE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=10)
"""Bounded: a broken archive must not keep a save from closing."""


async def archive(run: SaveRun, status: str) -> None:
    """Archive the post-mortem and the history; on failure the history stays in Temporal until retention."""
    try:
        await workflow.execute_activity(
            ARCHIVE_ACTIVITY,
            ArchiveRequest(state=run.s, status=status),
            result_type=int,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=ARCHIVE_RETRY,
            summary="Archive the post-mortem and the history of this save",
        )
    except ActivityError as exc:
        workflow.logger.warning(
            "archive failed; the history stays in Temporal until retention",
            extra=run.log_extra(error=str(exc.cause or exc)),
        )


async def close(run: SaveRun, risk: RiskColour, reason: str, recovered: bool | None) -> SaveResult:
    """Cancel what is open, tell the CRM, archive; the save's final result."""
    s = run.s
    tasks.cancel_active(s)
    s.closed_at = workflow.now()
    s.closed_reason = reason
    if s.recovery is not None:
        s.recovery.completed = True
    effects = run.effects
    await asyncio.gather(
        effects.sync_crm_tasks(),
        effects.set_risk(risk, f"Save closed: {reason}"),
        effects.note("closed", f"Save closed: {reason}"),
    )
    run.publish()
    await archive(run, "closed")
    await workflow.wait_condition(workflow.all_handlers_finished)
    workflow.logger.info("save closed", extra=run.log_extra(reason=reason))
    return SaveResult(
        save_id=s.save_id,
        account_id=s.account.account_id,
        playbook_id=s.playbook.id,
        outcome=s.outcome.kind if s.outcome else None,
        closed_reason=reason,
        recovered=recovered,
    )


def relapse_trigger(run: SaveRun, relapse: Relapse) -> Trigger:
    """The signal that reopens the save: the new trigger itself, or a health drop."""
    s = run.s
    return relapse.trigger or Trigger(
        trigger_id=f"relapse-{s.save_id}",
        account_id=s.account.account_id,
        kind=TriggerKind.HEALTH_DROP,
        playbook=s.playbook.id,
        source="recovery_check",
        note=relapse.reason,
        signals={
            "health": relapse.health if relapse.health is not None else -1,
            "threshold": s.playbook.recovery.relapse_health_below,
        },
    )


async def reopen(run: SaveRun, relapse: Relapse) -> SaveInput:
    """A saved customer relapsed: this save ends; returns the input of the new, linked save run."""
    s = run.s
    tasks.cancel_active(s)
    await asyncio.gather(
        run.effects.sync_crm_tasks(), run.effects.note("relapse", f"Relapsed during recovery: {relapse.reason}")
    )
    await archive(run, "reopened")
    previous = PreviousSave(
        save_id=s.save_id,
        run_id=workflow.info().run_id,
        playbook_id=s.playbook.id,
        outcome=s.outcome.kind if s.outcome else None,
        relapsed_at=relapse.at,
        reason=relapse.reason,
    )
    trigger = relapse_trigger(run, relapse)
    workflow.logger.info("save relapsed", extra=run.log_extra(reason=relapse.reason))
    return SaveInput(trigger=trigger, previous=previous)
