"""The help-needed flag: another team owes the save something, with a deadline and a ladder."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from playbook_defs.vocabulary import Stage
from workflows import wording
from workflows.models import FlagHelp, HelpRequest, SaveState, Task, TaskSource, TaskStatus
from workflows.save import steps
from workflows.save.guards import refuse_inactive

if TYPE_CHECKING:
    from workflows.save.context import SaveRun


def refuse_help(s: SaveState) -> str | None:
    refusal = refuse_inactive(s)
    if refusal is not None:
        return refusal
    if s.stage is Stage.EXIT:
        return "the save was lost; help can no longer be requested"
    return None


def add(s: SaveState, request: FlagHelp, now: datetime) -> HelpRequest:
    number = len(s.help_requests) + 1
    task = Task(
        id=f"help_{number}",
        title=f"Help needed: {request.what}",
        source=TaskSource.HELP,
        owner=request.role,
        due_within=s.playbook.help_due_within,
        ladder=s.playbook.default_escalation,
        guidance=f"Requested by {request.by or 'the CSM'} for the {s.playbook.name}.",
    )
    s.tasks[task.id] = task
    help_request = HelpRequest(
        id=str(number), role=request.role, what=request.what, requested_by=request.by, at=now, task_id=task.id
    )
    s.help_requests.append(help_request)
    return help_request


async def run_help(run: SaveRun, request: HelpRequest) -> None:
    """Email the team that must help, then chase its task."""
    task = run.s.tasks[request.task_id]
    if task.status is TaskStatus.PENDING:
        await run.effects.email(
            "help_needed",
            request.role,
            f"help/{request.id}",
            {"what": request.what, "requested_by": request.requested_by or "the CSM"},
            f"Help needed from {wording.role(request.role)}",
        )
    await steps.run_task(run, task, opens_at=request.at)
