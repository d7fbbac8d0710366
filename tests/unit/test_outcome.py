"""Recording the outcome: what is refused and why, what ARR is kept, what follows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from playbook_defs.vocabulary import OutcomeKind, Stage
from tests.unit.conftest import OPENED, hours, new_save
from workflows import rules
from workflows.models import RecordOutcome, TaskStatus
from workflows.save import outcome, steps

NOW = OPENED + hours(24 * 20)


def decide(kind: OutcomeKind, **kw: object) -> RecordOutcome:
    return RecordOutcome.model_validate({"kind": kind, "reason": "decided on the call", **kw})


@given(retained=st.floats(min_value=1, max_value=119_999, allow_nan=False))
def test_partially_saved_keeps_the_arr_it_names(retained: float) -> None:
    s = new_save(arr=120_000.0)
    request = decide(OutcomeKind.PARTIALLY_SAVED, arr_retained=retained)
    assert outcome.refuse_outcome(s, request) is None
    assert outcome.record(s, request, NOW).arr_retained == retained


@pytest.mark.parametrize(
    ("request_kw", "refusal"),
    [
        ({"kind": OutcomeKind.PARTIALLY_SAVED}, "needs arr_retained"),
        ({"kind": OutcomeKind.PARTIALLY_SAVED, "arr_retained": 120_000}, "record it as saved"),
        ({"kind": OutcomeKind.LOST, "arr_retained": 10}, "retains no ARR"),
        ({"kind": OutcomeKind.SAVED, "criteria_met": ["bogus"]}, "unknown success criteria"),
    ],
)
def test_inconsistent_outcomes_are_refused_with_the_reason(request_kw: dict[str, object], refusal: str) -> None:
    message = outcome.refuse_outcome(new_save(arr=120_000.0), decide(**request_kw))  # type: ignore[arg-type]
    assert message is not None and refusal in message


def test_saved_without_a_figure_keeps_all_the_arr_and_lost_keeps_none() -> None:
    assert outcome.record(new_save(arr=5_000.0), decide(OutcomeKind.SAVED), NOW).arr_retained == 5_000.0
    assert outcome.record(new_save(arr=5_000.0), decide(OutcomeKind.LOST), NOW).arr_retained == 0.0


def test_an_outcome_is_recorded_once() -> None:
    s = new_save()
    outcome.record(s, decide(OutcomeKind.SAVED), NOW)
    assert "already recorded" in (outcome.refuse_outcome(s, decide(OutcomeKind.LOST)) or "")


def test_criteria_met_and_missed_follow_the_playbook() -> None:
    s = new_save()
    known = [c.id for c in s.playbook.outcome.success_criteria]
    recorded = outcome.record(s, decide(OutcomeKind.SAVED, criteria_met=known[:1]), NOW)
    assert recorded.criteria_met == known[:1] and recorded.criteria_missed == known[1:]


def test_saved_enters_recovery_and_lost_the_exit_path() -> None:
    saved = new_save()
    call = saved.tasks[saved.first_contact.step_id]
    steps.open_task(saved, call, OPENED)
    outcome.record(saved, decide(OutcomeKind.SAVED), NOW)
    outcome.conclude(saved, NOW)
    assert saved.recovery is not None and saved.recovery.ends_at == NOW + saved.playbook.recovery.duration
    assert call.status is TaskStatus.CANCELLED
    assert rules.current_stage(saved) is Stage.RECOVERY

    lost = new_save()
    outcome.record(lost, decide(OutcomeKind.LOST), NOW)
    outcome.conclude(lost, NOW)
    assert lost.exit_started_at == NOW and lost.recovery is None
    assert rules.current_stage(lost) is Stage.EXIT
    assert all(not t.is_active for t in lost.tasks.values())
