"""Every trigger kind starts the right playbook."""

from __future__ import annotations

import pytest

from playbook_defs.loader import RouteError, load_playbooks
from playbook_defs.vocabulary import CancellationReason, TriggerKind

BY_KIND = {
    TriggerKind.ONBOARDING_DELAY: "value_roi",
    TriggerKind.LOW_USAGE: "value_roi",
    TriggerKind.NO_EVIDENT_VALUE: "value_roi",
    TriggerKind.HEALTH_DROP: "value_roi",
    TriggerKind.RENEWAL_RISK: "budget",
    TriggerKind.PRICING_OBJECTION: "budget",
    TriggerKind.PAYMENT_PAST_DUE: "budget",
    TriggerKind.SPONSOR_LOST: "champion_departure",
    TriggerKind.CHAMPION_DEPARTURE: "champion_departure",
    TriggerKind.SPONSOR_DISENGAGED: "service_relationship",
    TriggerKind.NO_BUSINESS_REVIEW: "service_relationship",
    TriggerKind.PRODUCT_GAP: "product_issue",
    TriggerKind.SUPPORT_ESCALATION: "product_issue",
    TriggerKind.COMPETITOR_EVALUATION: "competitive_threat",
}
BY_REASON = {
    CancellationReason.PRODUCT: "product_issue",
    CancellationReason.VALUE: "value_roi",
    CancellationReason.SERVICE: "service_relationship",
    CancellationReason.BUDGET: "budget",
    CancellationReason.COMPETITOR: "competitive_threat",
    CancellationReason.CHAMPION: "champion_departure",
}
LIBRARY = load_playbooks()


def test_the_table_covers_every_trigger_kind() -> None:
    routed_by_reason = {TriggerKind.CANCELLATION_REQUEST, TriggerKind.MANUAL}
    assert set(BY_KIND) | routed_by_reason == set(TriggerKind)
    assert set(BY_REASON) == set(CancellationReason)


@pytest.mark.parametrize("kind", list(BY_KIND), ids=lambda k: k.value)
def test_each_signal_starts_its_playbook(kind: TriggerKind) -> None:
    assert LIBRARY.route(kind).id == BY_KIND[kind]


@pytest.mark.parametrize("reason", list(CancellationReason), ids=lambda r: r.value)
def test_a_cancellation_request_is_routed_by_its_stated_reason(reason: CancellationReason) -> None:
    assert LIBRARY.route(TriggerKind.CANCELLATION_REQUEST, reason).id == BY_REASON[reason]
    assert LIBRARY.route(TriggerKind.MANUAL, reason).id == BY_REASON[reason]


def test_a_cancellation_without_a_reason_or_a_bare_manual_trigger_names_the_missing_field() -> None:
    for kind in (TriggerKind.CANCELLATION_REQUEST, TriggerKind.MANUAL):
        with pytest.raises(RouteError) as caught:
            LIBRARY.route(kind)
        assert caught.value.field == "reason"
        assert "budget" in caught.value.message  # it lists the reasons to choose from


def test_the_route_table_has_a_playbook_for_everything_but_a_bare_manual_trigger() -> None:
    table = LIBRARY.routes()
    assert [key for key, playbook in table.items() if playbook is None] == ["manual"]
    assert table["cancellation_request/budget"] == "budget"
    assert table["low_usage"] == "value_roi"
