"""Escalation ladders: each rung fires its ``after`` past the deadline, in order, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from playbook_defs.schema import EscalationLevel
from playbook_defs.vocabulary import OwnerRole
from tests.unit.conftest import OPENED, PLAYBOOK_IDS, library, new_save
from workflows.save import ladder

ROLES = list(OwnerRole)


@st.composite
def ladders(draw: st.DrawFn) -> tuple[EscalationLevel, ...]:
    gaps = draw(st.lists(st.integers(min_value=0, max_value=10 * 24), min_size=0, max_size=5))
    after, rungs = 0, []
    for gap in gaps:
        after += gap
        rungs.append(EscalationLevel(after=timedelta(hours=after), to=draw(st.sampled_from(ROLES))))
    return tuple(rungs)


@given(steps=ladders(), fired=st.integers(min_value=0, max_value=6))
def test_rungs_left_are_the_unfired_ones_in_order_at_their_offsets(
    steps: tuple[EscalationLevel, ...], fired: int
) -> None:
    rungs = ladder.rungs_left(OPENED, steps, fired)
    assert [r.level for r in rungs] == list(range(fired + 1, len(steps) + 1))
    for rung in rungs:
        assert rung.at == OPENED + steps[rung.level - 1].after
        assert rung.to == steps[rung.level - 1].to
    assert [r.at for r in rungs] == sorted(r.at for r in rungs)


def test_a_restarted_run_does_not_fire_a_rung_twice() -> None:
    steps = (
        EscalationLevel(after=timedelta(0), to=OwnerRole.CS_MANAGER),
        EscalationLevel(after=timedelta(days=2), to=OwnerRole.EXECUTIVE_SPONSOR),
    )
    assert [r.to for r in ladder.rungs_left(OPENED, steps, fired=1)] == [OwnerRole.EXECUTIVE_SPONSOR]
    assert ladder.rungs_left(OPENED, steps, fired=2) == []


@pytest.mark.parametrize("playbook", PLAYBOOK_IDS)
def test_every_ladder_climbs_to_someone_other_than_the_owner_and_never_goes_back_in_time(playbook: str) -> None:
    pb = library().playbooks[playbook]
    for step in pb.steps:
        if step.escalation:
            times = [rung.after for rung in step.escalation]
            assert times == sorted(times), step.id
            assert step.escalation[-1].to != step.owner, step.id


def test_an_escalation_is_recorded_with_how_late_it_was() -> None:
    s = new_save()
    rung = ladder.Rung(
        level=1, at=OPENED, to=OwnerRole.CS_MANAGER, step=EscalationLevel(after=timedelta(0), to=OwnerRole.CS_MANAGER)
    )
    record = ladder.record_escalation(s, "task/x", "Call", rung, OPENED, OPENED + timedelta(hours=3))
    assert record.overdue_by == timedelta(hours=3)
    assert s.escalations_for("task/x") == [record]
    assert s.emails_sent == 1
