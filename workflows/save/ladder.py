"""Deadlines and the escalation ladder: past its due time an item is overdue, and each rung of its
ladder (CSM, CS manager, executive sponsor...) is alerted in turn until the item is done."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from temporalio import workflow

from playbook_defs.durations import format_duration
from playbook_defs.schema import EscalationLevel
from playbook_defs.vocabulary import OwnerRole
from workflows import wording
from workflows.contracts import ActivityName, EmailReceipt, EscalationRequest
from workflows.models import EscalationRecord, SaveState
from workflows.save.effects import EMAIL_TIMEOUT
from workflows.save.first_contact import wait_summary
from workflows.save.timers import wait_until

if TYPE_CHECKING:
    from workflows.save.context import SaveRun


@dataclass(frozen=True)
class Rung:
    """One escalation still to fire: its number on the ladder, when, and to whom."""

    level: int
    at: datetime
    to: OwnerRole
    step: EscalationLevel


def rungs_left(due_at: datetime, ladder: tuple[EscalationLevel, ...], fired: int) -> list[Rung]:
    """The rungs not fired yet, each due ``after`` the item's deadline, in ladder order."""
    return [
        Rung(level=number, at=due_at + step.after, to=step.to, step=step)
        for number, step in enumerate(ladder, start=1)
        if number > fired
    ]


def record_escalation(
    s: SaveState, item: str, title: str, rung: Rung, due_at: datetime, now: datetime
) -> EscalationRecord:
    record = EscalationRecord(item=item, title=title, level=rung.level, to=rung.to, at=now, overdue_by=now - due_at)
    s.escalations.append(record)
    s.emails_sent += 1
    return record


async def chase(
    run: SaveRun,
    item: str,
    title: str,
    owner: OwnerRole,
    due_at: datetime,
    ladder: tuple[EscalationLevel, ...],
    is_done: Callable[[], bool],
    on_overdue: Callable[[], None],
) -> None:
    """Wait for ``is_done``; past ``due_at`` mark it overdue and climb the escalation ladder."""
    if await wait_until(due_at, is_done, wait_summary(run.s, item, title, owner)):
        return
    on_overdue()
    run.publish()
    for rung in rungs_left(due_at, ladder, fired=len(run.s.escalations_for(item))):
        if await wait_until(rung.at, is_done, wording.escalate(title, rung.to)):
            return
        await escalate(run, item, title, owner, due_at, rung)
    await workflow.wait_condition(is_done)


async def escalate(run: SaveRun, item: str, title: str, owner: OwnerRole, due_at: datetime, rung: Rung) -> None:
    now = workflow.now()
    effects = run.effects
    request = EscalationRequest(
        key=effects.key(f"{item}/escalation/{rung.level}"),
        save=effects.ref,
        to=rung.to,
        level=rung.level,
        item=title,
        item_owner=owner,
        due_at=due_at,
        overdue_by=format_duration(now - due_at),
        context={"save": effects.digest(now)},
        at=now,
    )
    summary = wording.escalate(title, rung.to, rung.level)
    await effects.call(ActivityName.ESCALATE, request, summary, EmailReceipt, EMAIL_TIMEOUT)
    record_escalation(run.s, item, title, rung, due_at, now)
    run.publish()
    workflow.logger.info("escalated", extra=run.log_extra(item=item, level=rung.level))
