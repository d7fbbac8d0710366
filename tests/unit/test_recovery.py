"""Recovery: a health reading below the playbook's threshold, or a new signal, is a relapse."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from playbook_defs.vocabulary import OutcomeKind, TriggerKind
from tests.unit.conftest import OPENED, hours, new_save
from workflows.models import RecordOutcome, SaveState, Trigger
from workflows.save import outcome, recovery, triggers

NOW = OPENED + hours(24 * 20)


def in_recovery(playbook: str = "value_roi") -> SaveState:
    s = new_save(playbook)
    outcome.record(s, RecordOutcome(kind=OutcomeKind.SAVED, reason="renewed"), NOW)
    outcome.conclude(s, NOW)
    return s


@given(health=st.one_of(st.none(), st.integers(min_value=0, max_value=100)))
def test_relapse_exactly_below_the_threshold(health: int | None) -> None:
    s = in_recovery()
    threshold = s.playbook.recovery.relapse_health_below
    relapse = recovery.health_relapse(s, health, "30-day check-in", NOW + hours(24 * 30))
    assert (relapse is not None) is (health is not None and health < threshold)
    if relapse is not None:
        assert s.recovery is not None and s.recovery.relapse is relapse
        assert str(threshold) in relapse.reason


def test_only_the_first_relapse_counts() -> None:
    s = in_recovery()
    first = recovery.health_relapse(s, 1, "touchpoint #1", NOW)
    assert first is not None
    assert recovery.health_relapse(s, 0, "touchpoint #2", NOW + hours(1)) is None
    assert s.recovery is not None and s.recovery.relapse is first


def test_a_new_signal_during_recovery_is_a_relapse_and_a_redelivery_is_ignored() -> None:
    s = in_recovery()
    signal = Trigger(trigger_id="t2", account_id="northwind", kind=TriggerKind.LOW_USAGE)
    assert triggers.record_trigger(s, signal, NOW)
    assert s.recovery is not None and s.recovery.relapse is not None
    assert "low usage" in s.recovery.relapse.reason
    assert not triggers.record_trigger(s, signal, NOW)
    assert len(s.triggers) == 2


def test_triggers_beyond_the_cap_are_counted_not_kept() -> None:
    s = new_save()
    for n in range(triggers.MAX_TRIGGERS + 5):
        triggers.record_trigger(s, Trigger(trigger_id=f"x{n}", account_id="northwind", kind=TriggerKind.LOW_USAGE), NOW)
    assert len(s.triggers) == triggers.MAX_TRIGGERS
    assert s.triggers_not_kept == 6


def test_checks_and_touchpoints_become_tasks_for_their_owner() -> None:
    s = in_recovery()
    plan = s.playbook.recovery
    check = plan.checks[0]
    task = recovery.check_task(s, check)
    assert s.tasks[check.id] is task and task.owner == check.owner
    touch = recovery.touchpoint_task(s, 3)
    assert touch.id == "touchpoint_3" and touch.owner == plan.touchpoint_owner
