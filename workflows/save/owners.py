"""Handing a role's work on the save to another person (e.g. a new CSM when the fit is broken):
the CRM owner and that role's open tasks move to them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from playbook_defs.vocabulary import OwnerRole
from workflows.contracts import ActivityName, AssignOwnerRequest
from workflows.models import OwnerChange, ReassignOwner, SaveState
from workflows.save.guards import refuse_inactive

if TYPE_CHECKING:
    from workflows.save.context import SaveRun


def refuse_reassign(s: SaveState, request: ReassignOwner) -> str | None:
    refusal = refuse_inactive(s)
    if refusal is not None:
        return refusal
    if request.role is OwnerRole.CSM and s.account.csm_id == request.owner_id:
        return f"{request.owner_id!r} already owns this save"
    return None


def reassign(s: SaveState, request: ReassignOwner, now: datetime) -> OwnerChange:
    previous = s.account.csm if request.role is OwnerRole.CSM else None
    change = OwnerChange(
        number=len(s.owner_changes) + 1,
        role=request.role,
        owner_id=request.owner_id,
        name=request.name,
        email=request.email,
        previous=previous,
        reason=request.reason,
        by=request.by,
        at=now,
    )
    s.owner_changes.append(change)
    if request.role is OwnerRole.CSM:
        s.account = s.account.model_copy(update={"csm": request.name, "csm_id": request.owner_id})
    return change


def note_text(change: OwnerChange) -> str:
    return (
        f"{change.role.value} reassigned to {change.name}"
        + (f" (was {change.previous})" if change.previous else "")
        + (f": {change.reason}" if change.reason else "")
    )


async def sync_owner(run: SaveRun, change: OwnerChange) -> None:
    """Tell the CRM; the timeline summary names the owner by id only (summaries are not encrypted)."""
    effects = run.effects
    request = AssignOwnerRequest(
        save=effects.ref,
        role=change.role,
        owner_id=change.owner_id,
        name=change.name,
        email=change.email,
        at=change.at,
    )
    summary = f"CRM owner for {change.role.value}: {change.owner_id}"
    await effects.call(ActivityName.ASSIGN_CRM_OWNER, request, summary, int)
    change.synced = True
    await effects.note(f"owner/{change.number}", note_text(change))
