"""Completing a task: who did it, when, late or not; the first-contact rule and approvals follow."""

from __future__ import annotations

from datetime import datetime

from workflows import rules
from workflows.models import CommitmentStatus, CompleteTask, SaveState, Task, TaskStatus
from workflows.save import first_contact


def refuse_complete(s: SaveState, request: CompleteTask) -> str | None:
    task = s.tasks.get(request.task_id)
    if task is None:
        active = [t.id for t in s.tasks.values() if t.is_active]
        return f"unknown task {request.task_id!r}; open tasks: {', '.join(active) or 'none'}"
    if task.status is TaskStatus.DONE:
        by = f", by {task.done_by}" if task.done_by else ""
        return f"task {task.id!r} is already done ({rules.when(task.done_at)}{by})"
    if task.status is TaskStatus.CANCELLED:
        return f"task {task.id!r} was cancelled when the save moved on"
    return None


def complete(s: SaveState, task: Task, by: str | None, note: str, now: datetime, approved: bool = True) -> Task:
    """Mark ``task`` done at ``now``; an approval task also approves (or rejects) its commitment."""
    task.status = TaskStatus.DONE
    task.done_at = now
    task.done_by = by
    task.note = note
    if task.due_at is not None and now > task.due_at:
        task.overdue = True
    first_contact.record_contact(s, task, now)
    if task.commitment_id is not None:
        c = s.commitment(task.commitment_id)
        c.status = CommitmentStatus.OPEN if approved else CommitmentStatus.REJECTED
    return task


def cancel_active(s: SaveState, tasks: list[Task] | None = None) -> None:
    """Cancel what is still open (all of the save's tasks unless a list is given)."""
    for task in tasks if tasks is not None else list(s.tasks.values()):
        if task.is_active:
            task.status = TaskStatus.CANCELLED
