"""Triage: zone and strategy by the first matching rule, and the override window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from playbook_defs.triage_rules import SavePath
from playbook_defs.vocabulary import AccountFlag, CancellationReason, Fit, SponsorStatus, Tier, TriggerKind
from tests.unit.conftest import OPENED, account, triage_rules
from workflows import triage
from workflows.models import Trigger
from workflows.triage_models import OverrideTriage

KINDS = [k for k in TriggerKind if k not in (TriggerKind.MANUAL, TriggerKind.CANCELLATION_REQUEST)]


@given(
    arr=st.floats(min_value=0, max_value=5_000_000, allow_nan=False),
    tier=st.sampled_from(list(Tier)),
    flags=st.sets(st.sampled_from(list(AccountFlag)), max_size=3),
    fit=st.one_of(st.none(), st.sampled_from(list(Fit))),
    sponsor=st.one_of(st.none(), st.sampled_from(list(SponsorStatus))),
    kind=st.sampled_from(KINDS),
)
def test_every_account_gets_a_decision_with_its_reasons(
    arr: float, tier: Tier, flags: set[AccountFlag], fit: Fit | None, sponsor: SponsorStatus | None, kind: TriggerKind
) -> None:
    acct = account(arr=arr, tier=tier, flags=tuple(sorted(flags)), fit=fit, sponsor_status=sponsor)
    decision = triage.decide(triage_rules(), acct, Trigger(trigger_id="t", account_id="northwind", kind=kind), OPENED)
    assert decision.reasons
    assert decision.path is triage.path_for(decision.zone, decision.strategy)
    if decision.path is SavePath.EXIT:
        assert triage.holding(decision) and decision.window_closes_at > OPENED
    if AccountFlag.VOCAL_DETRACTOR in flags:
        assert decision.zone.value == "red_zone", "a vocal detractor stays in the red zone whatever its ARR"


def test_a_product_cancellation_of_a_big_account_is_a_rescue_that_starts_at_once() -> None:
    trigger = Trigger(
        trigger_id="t", account_id="northwind", kind=TriggerKind.CANCELLATION_REQUEST, reason=CancellationReason.PRODUCT
    )
    decision = triage.decide(triage_rules(), account(arr=250_000.0), trigger, OPENED)
    assert decision.path is not SavePath.EXIT and not triage.holding(decision)


@pytest.mark.parametrize("late", [timedelta(seconds=1), timedelta(hours=1)])
def test_the_override_window_closes(late: timedelta) -> None:
    trigger = Trigger(trigger_id="t", account_id="northwind", kind=TriggerKind.LOW_USAGE)
    decision = triage.decide(triage_rules(), account(arr=500.0, fit=Fit.POOR), trigger, OPENED)
    after = decision.window_closes_at + late
    assert triage.override_refusal(decision, after) is not None
    assert triage.override_refusal(decision, OPENED) is None
    reviewed = triage.apply_override(decision, OverrideTriage(by="Dana Lee", reason="confirmed"), OPENED)
    assert reviewed.final and triage.override_refusal(reviewed, OPENED) is not None
