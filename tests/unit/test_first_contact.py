"""The first-contact rule: kept when the call happens by the deadline, broken when it passes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.conftest import OPENED, PLAYBOOK_IDS, hours, new_save
from workflows.models import TaskStatus
from workflows.save import first_contact, steps, tasks


@pytest.mark.parametrize("playbook", PLAYBOOK_IDS)
def test_every_playbook_counts_first_contact_from_the_risk_flag(playbook: str) -> None:
    s = new_save(playbook)
    fc = s.first_contact
    assert fc.step_id in s.tasks
    assert fc.deadline == OPENED + fc.limit
    assert fc.limit <= hours(48), "the first customer contact is due within 48 hours of the flag"


def test_the_first_contact_task_is_due_at_the_rule_deadline_even_if_it_opens_late() -> None:
    s = new_save()
    call = s.tasks[s.first_contact.step_id]
    steps.open_task(s, call, opens_at=OPENED + hours(5))
    assert call.due_at == s.first_contact.deadline
    other = next(t for t in s.tasks.values() if t.id != call.id)
    steps.open_task(s, other, opens_at=OPENED + hours(5))
    assert other.due_at == OPENED + hours(5) + other.due_within


@given(minutes=st.integers(min_value=0, max_value=14 * 24 * 60))
def test_the_rule_is_kept_exactly_when_the_call_is_done_by_the_deadline(minutes: int) -> None:
    s = new_save()
    call = s.tasks[s.first_contact.step_id]
    steps.open_task(s, call, OPENED)
    done_at = OPENED + hours(minutes / 60)
    tasks.complete(s, call, "Sam Ortiz", "", done_at)
    assert s.first_contact.at == done_at
    assert s.first_contact.kept is (done_at <= s.first_contact.deadline)
    assert call.overdue is (done_at > s.first_contact.deadline)


def test_a_missed_deadline_breaks_the_rule_and_a_late_call_keeps_it_broken() -> None:
    s = new_save()
    call = s.tasks[s.first_contact.step_id]
    steps.open_task(s, call, OPENED)
    steps.mark_overdue(s, call)
    assert s.first_contact.kept is False and call.overdue
    tasks.complete(s, call, "Sam Ortiz", "", s.first_contact.deadline + hours(3))
    assert s.first_contact.kept is False


def test_other_tasks_do_not_touch_the_rule() -> None:
    s = new_save()
    other = next(t for t in s.tasks.values() if t.id != s.first_contact.step_id)
    steps.open_task(s, other, OPENED)
    steps.mark_overdue(s, other)
    tasks.complete(s, other, None, "", OPENED + hours(1))
    assert s.first_contact.kept is None and s.first_contact.at is None
    assert other.status is TaskStatus.DONE


def test_the_timeline_names_the_first_contact_window() -> None:
    s = new_save()
    fc = s.first_contact
    assert "first-contact" in first_contact.wait_summary(s, f"task/{fc.step_id}", "Call", "csm").lower()
    assert "first-contact" not in first_contact.wait_summary(s, "task/other", "Review", "csm").lower()
