"""The demo clock's playbook copies: every duration divided, defaults included; the real files untouched."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from activities.triage_activities import load_triage_rules
from playbook_defs.demo_clock import scale_playbook, scaled, write_demo_playbooks
from playbook_defs.loader import PLAYBOOK_DIR, load_playbooks


def _digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.rglob("*.yaml"))}


def test_copies_divide_every_duration_and_leave_the_playbooks_alone(tmp_path: Path) -> None:
    before = _digests(PLAYBOOK_DIR)
    copies = write_demo_playbooks(tmp_path / "demo", 1440)
    assert _digests(PLAYBOOK_DIR) == before
    real, demo = load_playbooks(PLAYBOOK_DIR), load_playbooks(copies)
    assert set(demo.playbooks) == set(real.playbooks)
    budget, fast = real.get("budget"), demo.get("budget")
    assert fast.first_contact_within == timedelta(minutes=2)  # 48 h
    assert fast.cadence.customer_update_every == timedelta(minutes=7)  # a default (7 d), scaled too
    assert fast.recovery.duration == timedelta(minutes=90)
    assert [s.due_within for s in fast.steps] == [
        scaled(s.due_within, 1440) if s.due_within else None for s in budget.steps
    ]
    assert fast.name == "Budget save (demo clock)" and fast.demo_speed == 1440 and budget.demo_speed is None
    assert load_triage_rules(copies).override_window == timedelta(minutes=1)  # 24 h
    assert (copies / "templates" / "farewell.j2").exists() and (copies / "rules" / "risk_rules.yaml").exists()


def test_scaling_keeps_order_and_at_least_a_second() -> None:
    assert scaled(timedelta(0), 1440) == timedelta(0)
    assert scaled(timedelta(minutes=1), 1440) == timedelta(seconds=1)
    assert scaled(timedelta(hours=24), 17280) == timedelta(seconds=5)
    with pytest.raises(ValueError, match="1 or more"):
        scale_playbook(load_playbooks().get("budget"), 0)
