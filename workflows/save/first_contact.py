"""The 48-hour rule: the first customer contact (a call, not an email) is due within the playbook's
window of the risk flag. Customers engaged within 48 hours are saved far more often than after a week,
so the deadline counts from the flag, not from when the task happened to open."""

from __future__ import annotations

from datetime import datetime

from workflows import wording
from workflows.models import SaveState, Task


def is_first_contact(s: SaveState, task: Task) -> bool:
    return task.id == s.first_contact.step_id


def task_deadline(s: SaveState, task: Task, opens_at: datetime) -> datetime:
    """A task is due ``due_within`` after it opens; the first-contact task by the rule's deadline."""
    return s.first_contact.deadline if is_first_contact(s, task) else opens_at + task.due_within


def record_contact(s: SaveState, task: Task, at: datetime) -> None:
    """The first-contact task was done at ``at``: the rule is kept if that is by the deadline."""
    fc = s.first_contact
    if is_first_contact(s, task):
        fc.at = at
        fc.kept = at <= fc.deadline


def record_missed(s: SaveState, task: Task) -> None:
    """The first-contact deadline passed with no contact: the rule is broken."""
    fc = s.first_contact
    if is_first_contact(s, task) and fc.at is None:
        fc.kept = False


def wait_summary(s: SaveState, item: str, title: str, owner: str) -> str:
    """The timeline's words for waiting on ``item``: the first-contact window, or a plain due date."""
    fc = s.first_contact
    if item == f"task/{fc.step_id}":
        return wording.first_contact_window(fc.limit, title)
    return wording.due(title, owner)
