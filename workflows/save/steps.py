"""The playbook's steps: each opens at its offset once its dependencies are done, as a CRM task for
its owner (chased up its ladder while overdue), an email, or a change of the CRM risk status."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from temporalio import workflow

from playbook_defs.schema import Step, StepKind
from workflows import wording
from workflows.contracts import CrmTaskRequest
from workflows.details import label
from workflows.models import AutomatedStatus, SaveState, Task, TaskStatus
from workflows.save import first_contact, ladder
from workflows.save.timers import sleep_until

if TYPE_CHECKING:
    from workflows.save.context import SaveRun


def deps_done(s: SaveState, step: Step) -> bool:
    for dep in step.depends_on:
        if dep in s.tasks and s.tasks[dep].status is not TaskStatus.DONE:
            return False
        if dep in s.automated and s.automated[dep].status is not AutomatedStatus.DONE:
            return False
    return True


def scheduled_start(s: SaveState, step: Step) -> datetime:
    """When a step was due to open: its offset, or its last dependency's completion if later."""
    moments = [s.opened_at + step.start_after]
    for dep in step.depends_on:
        done_at = _done_at(s, dep)
        if done_at is not None:
            moments.append(done_at)
    return max(moments)


def _done_at(s: SaveState, step_id: str) -> datetime | None:
    if step_id in s.tasks:
        return s.tasks[step_id].done_at
    return s.automated[step_id].done_at if step_id in s.automated else None


def open_task(s: SaveState, task: Task, opens_at: datetime) -> None:
    """The task opens: its deadline counts from when it was due to open, not from when a worker got to it."""
    task.opened_at = opens_at
    task.due_at = first_contact.task_deadline(s, task, opens_at)
    task.status = TaskStatus.OPEN


def task_request(run: SaveRun, task: Task, now: datetime) -> CrmTaskRequest:
    """The CRM task for an opened ``task``, keyed by the save and the task (never twice)."""
    assert task.due_at is not None
    return CrmTaskRequest(
        key=run.effects.key(f"task/{task.id}"),
        save=run.effects.ref,
        owner=task.owner,
        title=task.title,
        body=task.guidance,
        due_at=task.due_at,
        at=now,
    )


def mark_overdue(s: SaveState, task: Task) -> None:
    task.overdue = True
    first_contact.record_missed(s, task)


async def run_step(run: SaveRun, step: Step) -> None:
    """Open the step once its start offset has passed and its dependencies are done."""
    s = run.s
    await workflow.wait_condition(lambda: deps_done(run.s, step))
    await sleep_until(s.opened_at + step.start_after, f"Start: {step.title}")
    if step.kind is StepKind.TASK:
        await run_task(run, s.tasks[step.id], opens_at=scheduled_start(s, step))
        return
    auto = s.automated[step.id]
    if auto.status is not AutomatedStatus.PENDING:
        return
    if step.kind is StepKind.EMAIL:
        assert step.template is not None and step.to is not None
        summary = f"Email to {wording.role(step.to)}: {step.title}"
        await run.effects.email(step.template, step.to, f"step/{step.id}", {}, summary)
    else:
        assert step.risk is not None
        await run.effects.set_risk(step.risk, step.title)
    auto.status = AutomatedStatus.DONE
    auto.done_at = scheduled_start(s, step)
    run.publish()


async def run_task(run: SaveRun, task: Task, opens_at: datetime | None = None) -> None:
    """Create the CRM task, chase it up its ladder while overdue, close it when done.

    ``opens_at`` is when the task was due to open; its deadline counts from then, so a worker
    that was down for an hour does not give the owner an extra hour.
    """
    effects = run.effects
    if task.status is TaskStatus.PENDING:
        now = workflow.now()
        open_task(run.s, task, opens_at or now)
        run.publish()
        request = task_request(run, task, now)
        shown = label(run.s, f"task/{task.id}", task.title)  # help and approval titles carry typed text
        ref = await effects.create_task(request, f"CRM task for {wording.role(task.owner)}: {shown}")
        task.crm_task_id = ref.task_id if ref is not None else None
    if task.status is TaskStatus.OPEN:
        assert task.due_at is not None
        await ladder.chase(
            run,
            f"task/{task.id}",
            task.title,
            task.owner,
            task.due_at,
            task.ladder,
            lambda: not task.is_active,
            lambda: mark_overdue(run.s, task),
        )
    if task.status is TaskStatus.DONE and task.crm_task_id is not None:
        await effects.close_crm(done=[effects.key(f"task/{task.id}")])
