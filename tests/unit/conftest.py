"""The unit tier: the save's rules as pure functions over SaveState, no Temporal server at all.

Run it alone in a few seconds: ``python -m pytest tests/unit``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from hypothesis import settings

from activities.triage_activities import load_triage_rules
from playbook_defs.loader import PlaybookLibrary, load_playbooks
from playbook_defs.triage_rules import TriageRules
from playbook_defs.vocabulary import Tier, TriggerKind
from workflows import rules
from workflows.contracts import AccountSnapshot
from workflows.models import SaveState, Trigger

OPENED = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
PLAYBOOK_IDS = (
    "product_issue",
    "value_roi",
    "service_relationship",
    "budget",
    "competitive_threat",
    "champion_departure",
)


@cache
def library() -> PlaybookLibrary:
    return load_playbooks()


@cache
def triage_rules() -> TriageRules:
    return load_triage_rules()


def account(**changes: object) -> AccountSnapshot:
    base = AccountSnapshot(
        account_id="northwind", name="Northwind", tier=Tier.ENTERPRISE, arr=120_000.0, csm="Sam Ortiz", csm_id="u-sam"
    )
    return base.model_copy(update=changes)


def new_save(playbook: str = "product_issue", at: datetime = OPENED, **account_changes: object) -> SaveState:
    """A save as it stands right after it opened (red zone, rescue: work starts at once)."""
    trigger = Trigger(trigger_id="t1", account_id="northwind", kind=TriggerKind.MANUAL, playbook=playbook)
    return rules.new_state("run-1", account(**account_changes), library().playbooks[playbook], trigger, at, None)


@pytest.fixture
def make_save() -> Callable[..., SaveState]:
    return new_save


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


# Rules are pure and fast, but the first example loads the playbooks; a busy CI machine must not
# turn that into a flaky "deadline exceeded".
settings.register_profile("unit", deadline=None)
settings.load_profile("unit")
