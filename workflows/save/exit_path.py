"""The exit path of a lost save, or of a dead-zone or farewell account: an exit interview (why they
leave, what would have kept them) and a graceful goodbye, no save effort."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from temporalio import workflow

from playbook_defs.schema import CUSTOMER
from workflows import triage
from workflows.models import SaveState, Task, TaskSource, TaskStatus
from workflows.save import tasks

if TYPE_CHECKING:
    from workflows.save.context import SaveRun

EXIT_INTERVIEW = "exit_interview"


def exit_interview_task(s: SaveState) -> Task:
    plan = s.playbook.exit
    task = Task(
        id=EXIT_INTERVIEW,
        title=f"Exit interview with {s.account.name}",
        source=TaskSource.EXIT_INTERVIEW,
        owner=plan.owner,
        due_within=plan.due_within,
        ladder=plan.escalation,
        guidance="Learn why they leave and what would have kept them; part on good terms.",
    )
    s.tasks[task.id] = task
    return task


def goodbye_template(s: SaveState) -> str:
    """A lost save invites to the exit interview; a farewell chosen by triage says goodbye its own way."""
    plan = s.playbook.exit
    return plan.template if s.outcome is not None or s.triage is None else s.triage.farewell_template


def closed_reason(s: SaveState) -> str:
    return "lost" if s.outcome is not None else triage.exit_reason(s.triage)


async def open_exit_interview(run: SaveRun) -> Task:
    """The exit-interview task (created and the customer invited once; a later run finds it)."""
    s = run.s
    task = s.tasks.get(EXIT_INTERVIEW)
    if task is None:
        task = exit_interview_task(s)
        await run.effects.email(
            goodbye_template(s), CUSTOMER, "exit/invitation", {}, "Exit interview invitation to customer"
        )
    return task


async def switch_to_exit(run: SaveRun) -> None:
    """A CS manager moved a running save to the exit path within the override window."""
    s = run.s
    assert s.triage is not None
    s.exit_started_at = workflow.now()
    tasks.cancel_active(s)
    await asyncio.gather(run.effects.sync_crm_tasks(), run.effects.note("triage-exit", triage.summary(s.triage)))


def cancel_unopened(s: SaveState) -> None:
    """Triage held the save on the exit path: its step tasks never open."""
    for task in s.tasks.values():
        task.status = TaskStatus.CANCELLED
