"""What an inbound CRM event means for a save: a pure rule over the save's state, the event and now.

The save calls :func:`apply_crm_event` from its ``crm_event`` handler and runs the side effects the
result names (closing the CRM's escalation tasks, moving the role's CRM tasks to a new owner).
Every event is applied once: its key (the CRM, its id, its timestamp) is kept in the records, and
a key heard before changes nothing. Times are the CRM's: a task done in HubSpot at 09:40 is done at
09:40 even if the save hears of it at 11:00, and a call logged at hour 50 for a call made at hour
20 keeps the 48-hour rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from playbook_defs.vocabulary import OwnerRole
from workflows.contracts import InboundEvent, InboundKind, crm_name
from workflows.models import CrmDecision, CrmEventRecord, OwnerChange, SaveState, Task, TaskStatus
from workflows.save import tasks

SIGNAL = "crm_event"
"""The save's signal that takes an :class:`workflows.contracts.InboundEvent`."""
PATCH = "crm-events"
"""``workflow.patched`` id of applying CRM events (histories recorded before it never had one)."""
KEEP = 2000
"""CRM events a save keeps; beyond this the oldest that changed nothing are dropped first."""


@dataclass(frozen=True)
class CrmSyncResult:
    """What the save does after the rule: ``record`` is None for an event heard before."""

    record: CrmEventRecord | None
    completed_task: str | None = None
    """A task the CRM completed: its CRM escalations are closed, its ladder stops."""
    owner_change: OwnerChange | None = None
    """A new owner for a role: the role's open CRM tasks move to them."""


def task_of(s: SaveState, task_key: str | None) -> Task | None:
    """The save's task a CRM task key names (``<save id>/task/<task id>``); escalation and
    commitment tasks are not the save's task itself."""
    prefix = f"{s.save_id}/task/"
    if not task_key or not task_key.startswith(prefix):
        return None
    task_id = task_key.removeprefix(prefix)
    return None if "/" in task_id else s.tasks.get(task_id)


def _done(s: SaveState, task: Task, at: datetime, by: str | None, note: str) -> None:
    fc_at = s.first_contact.at
    tasks.complete(s, task, by, note, at)
    if fc_at is not None and fc_at < at:  # a touch logged earlier stays the first contact
        s.first_contact.at, s.first_contact.kept = fc_at, fc_at <= s.first_contact.deadline


def apply_crm_event(s: SaveState, heard: Sequence[CrmEventRecord], event: InboundEvent, now: datetime) -> CrmSyncResult:
    """Apply ``event`` to ``s`` (in place) unless its key was heard; say what else to do."""
    if any(r.key == event.key for r in heard):
        return CrmSyncResult(record=None)
    at = min(event.at, now)  # a CRM clock ahead of ours does not date work in the future
    where = crm_name(event.crm)
    by = f" by {event.by}" if event.by else ""

    def record(decision: CrmDecision, text: str, task: Task | None = None, attention: bool = False) -> CrmEventRecord:
        return CrmEventRecord(
            key=event.key,
            crm=event.crm,
            kind=event.kind,
            at=at,
            heard_at=now,
            decision=decision,
            text=text,
            by=event.by,
            task_id=task.id if task else None,
            needs_attention=attention,
        )

    if event.kind in (InboundKind.TASK_COMPLETED, InboundKind.TASK_REOPENED, InboundKind.TASK_DELETED):
        task = task_of(s, event.task_key)
        if task is None:
            return CrmSyncResult(
                record(CrmDecision.IGNORED, f"A CRM task not tracked as a save task changed in {where}")
            )
        if event.kind is InboundKind.TASK_COMPLETED:
            if task.status is TaskStatus.DONE:
                return CrmSyncResult(
                    record(CrmDecision.IGNORED, f"{task.title}: done in {where}{by}, already done", task)
                )
            if task.status is TaskStatus.CANCELLED:
                text = f"{task.title}: done in {where}{by}, but the save had cancelled it when it moved on"
                return CrmSyncResult(record(CrmDecision.REFUSED, text, task))
            _done(s, task, at, event.by, f"Done in {where}{by}")
            return CrmSyncResult(record(CrmDecision.APPLIED, f"Done in {where}{by}: {task.title}", task), task.id)
        if event.kind is InboundKind.TASK_REOPENED:
            if task.status is not TaskStatus.DONE:
                return CrmSyncResult(record(CrmDecision.IGNORED, f"{task.title}: reopened in {where}{by}", task))
            text = f"{task.title}: reopened in {where}{by}; the save keeps it done (done {task.done_at:%Y-%m-%d %H:%M})"
            return CrmSyncResult(record(CrmDecision.REFUSED, text, task, attention=True))
        if not task.is_active:
            return CrmSyncResult(
                record(CrmDecision.IGNORED, f"{task.title}: deleted in {where}{by} after it closed", task)
            )
        text = f"{task.title}: its CRM task was deleted in {where}{by}; needs attention (not recreated)"
        return CrmSyncResult(record(CrmDecision.APPLIED, text, task, attention=True))

    if event.kind is InboundKind.CUSTOMER_TOUCH:
        what = f"{(event.channel or 'touch').capitalize()} with {event.contact or 'the customer'}"
        if event.account_id != s.account.account_id:
            return CrmSyncResult(record(CrmDecision.IGNORED, f"{what} logged in {where} for another account"))
        if at < s.opened_at:
            return CrmSyncResult(record(CrmDecision.IGNORED, f"{what} in {where}{by}, before the save opened"))
        fc = s.first_contact
        if fc.at is not None and fc.at <= at:
            return CrmSyncResult(record(CrmDecision.IGNORED, f"{what} in {where}{by}; first contact was earlier"))
        fc.at = at
        fc.kept = at <= fc.deadline
        verdict = "within" if fc.kept else "after"
        text = (
            f"{what} in {where}{by}: first contact, {verdict} the {round(fc.limit.total_seconds() / 3600)}-hour window"
        )
        task = s.tasks.get(fc.step_id)
        if task is not None and task.is_active:
            _done(s, task, at, event.by, f"{what} logged in {where}")
            return CrmSyncResult(record(CrmDecision.APPLIED, text, task), task.id)
        return CrmSyncResult(record(CrmDecision.APPLIED, text, task))

    # owner changed
    role = event.role or OwnerRole.CSM
    if event.account_id != s.account.account_id or not event.owner_id:
        return CrmSyncResult(record(CrmDecision.IGNORED, f"An owner changed in {where} for another account"))
    name = event.owner_name or event.owner_id
    if role is OwnerRole.CSM:
        current = s.account.csm_id
    else:
        earlier = [c for c in s.owner_changes if c.role is role]
        current = earlier[-1].owner_id if earlier else event.owner_id  # no known owner: the CRM's is used
    if current == event.owner_id:
        return CrmSyncResult(record(CrmDecision.IGNORED, f"{role.value} in {where} is {name}, as the save knows"))
    change = OwnerChange(
        number=len(s.owner_changes) + 1,
        role=role,
        owner_id=event.owner_id,
        name=name,
        email=event.owner_email,
        previous=s.account.csm if role is OwnerRole.CSM else None,
        reason=f"changed in {where}",
        by=event.by,
        at=at,
    )
    s.owner_changes.append(change)
    if role is OwnerRole.CSM:
        s.account = s.account.model_copy(update={"csm": name, "csm_id": event.owner_id})
    return CrmSyncResult(
        record(CrmDecision.APPLIED, f"{role.value} changed in {where}{by} to {name}"), owner_change=change
    )


def remember(s: SaveState, record: CrmEventRecord) -> None:
    """Keep ``record``; past :data:`KEEP`, drop the oldest ignored ones (their keys were no-ops)."""
    s.crm_events.append(record)
    while len(s.crm_events) > KEEP:
        idle = next((r for r in s.crm_events if r.decision is CrmDecision.IGNORED), s.crm_events[0])
        s.crm_events.remove(idle)
