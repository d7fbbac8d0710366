"""Every playbook puts its work in the common save milestones, for every tier:

day 1 the save is acknowledged internally with its owner named and the investigation is due;
days 2-3 the root cause and the save plan are due; week 1 the plan is in motion; weeks 2-4 it is
executed; by day 30 the outcome is decided (and followed up).

A step's "due by" is the latest moment it is due when everything before it is done on time: its
start, or the moment the steps it depends on are due, plus its own deadline.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from playbook_defs.loader import load_playbooks
from playbook_defs.schema import PlaybookDef, Step, StepKind
from playbook_defs.vocabulary import Stage, Tier

DAY = timedelta(days=1)
PLAYBOOKS = load_playbooks()


def due_by(playbook: PlaybookDef, step: Step) -> timedelta:
    opens = max([step.start_after, *(due_by(playbook, playbook.step(d)) for d in step.depends_on)])
    own = playbook.first_contact_within if step.first_contact else step.due_within or timedelta(0)
    return opens + own


def tasks(playbook: PlaybookDef, tier: Tier) -> list[tuple[Step, timedelta]]:
    return [(s, due_by(playbook, s)) for s in playbook.steps if s.kind is StepKind.TASK and s.applies_to(tier)]


@pytest.mark.parametrize("tier", list(Tier))
@pytest.mark.parametrize("playbook_id", sorted(PLAYBOOKS.playbooks))
def test_steps_fall_in_the_milestone_windows(playbook_id: str, tier: Tier) -> None:
    p = PLAYBOOKS.get(playbook_id)
    work = tasks(p, tier)
    # Day 1: acknowledged internally at once (the alert names the save's owner); investigation due
    alert = [s for s in p.steps if s.kind is StepKind.EMAIL and s.template == "internal_alert" and not s.depends_on]
    assert alert and all(s.start_after == timedelta(0) for s in alert), "day 1: no internal alert naming the owner"
    assert any(s.stage is Stage.INVESTIGATION and due <= DAY for s, due in work), "day 1: no investigation due"
    # Days 2-3: root cause and save plan
    plan = [(s, due) for s, due in work if s.stage is Stage.PLAN]
    assert any(s.completed_by == "root_cause" and due <= 3 * DAY for s, due in plan), "day 2-3: no root cause"
    assert any(s.completed_by is None and due <= 3 * DAY for s, due in plan), "day 2-3: no save plan"
    assert p.first_contact_within <= 2 * DAY, "the first customer contact comes within 48 hours"
    # Week 1: the plan in motion: an intervention, or a step of the plan beyond drafting it, is due
    assert any(
        (s.stage is Stage.INTERVENTION and due <= 7 * DAY) or (s.stage is Stage.PLAN and 3 * DAY < due <= 7 * DAY)
        for s, due in work
    ), "week 1: nothing of the plan is due"
    # Weeks 2-4: execution
    assert any(s.stage is Stage.INTERVENTION and 7 * DAY < due <= 28 * DAY for s, due in work), "weeks 2-4: idle"
    # Day 30: the outcome decided, and the follow-up that asks "did we deliver?"
    assert p.outcome.deadline <= 30 * DAY, "day 30: the outcome decision comes later"
    assert any(7 * DAY < due <= 30 * DAY and s.start_after >= 21 * DAY for s, due in work), "day 30: no follow-up"


def test_due_by_follows_dependencies() -> None:
    product = PLAYBOOKS.get("product_issue")
    assert due_by(product, product.step("roadmap_commitment")) == 10 * DAY  # engineering feasibility 7 d, then 3 d
    assert due_by(product, product.step("acknowledgment_call")) == DAY  # the first-contact window
