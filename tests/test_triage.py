"""Triage before effort: red or dead zone, rescue / recover / farewell, and the override window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from activities.triage_activities import load_triage_rules
from playbook_defs.loader import PlaybookError
from playbook_defs.rules_file import load_rules_file
from playbook_defs.triage_rules import SavePath, Strategy, TriageRules, Zone
from playbook_defs.vocabulary import (
    AccountFlag,
    CancellationReason,
    Fit,
    SponsorStatus,
    Tier,
    TriggerKind,
)
from tests.harness import Harness, close_to
from worker.runtime.save_client import SaveError
from workflows import triage
from workflows.contracts import AccountSnapshot
from workflows.models import AddCommitment, Trigger
from workflows.save import SaveWorkflow
from workflows.triage_models import OverrideTriage, TriageDecision

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _account(**kw: object) -> AccountSnapshot:
    base: dict[str, object] = {
        "account_id": "acme",
        "name": "Acme",
        "tier": Tier.MID_MARKET,
        "arr": 80000,
        "usage_pct": 60,
        "health": 50,
        "fit": Fit.GOOD,
    }
    return AccountSnapshot.model_validate(base | kw)


def _decide(kind: TriggerKind, reason: CancellationReason | None = None, **account: object) -> TriageDecision:
    trigger = Trigger(trigger_id="t", account_id="acme", kind=kind, reason=reason)
    return triage.decide(load_triage_rules(), _account(**account), trigger, NOW)


def test_our_failure_is_a_red_zone_rescue_that_starts_at_once() -> None:
    d = _decide(TriggerKind.PRODUCT_GAP)
    assert (d.zone, d.strategy, d.path) == (Zone.RED, Strategy.RESCUE, SavePath.SAVE)
    assert d.strategy_rule == "our_failure" and d.effort_started_at == NOW
    assert d.window_closes_at == NOW + timedelta(hours=24)
    assert d.reasons[0].startswith("red zone:") and "ARR 80,000" in d.reasons[2]


def test_mis_set_expectations_are_a_shared_recover() -> None:
    d = _decide(TriggerKind.CANCELLATION_REQUEST, CancellationReason.VALUE)
    assert (d.strategy, d.strategy_rule, d.path) == (Strategy.RECOVER, "value_stated", SavePath.SAVE)


def test_a_poor_fit_small_account_is_a_dead_zone_farewell() -> None:
    d = _decide(TriggerKind.LOW_USAGE, fit=Fit.POOR, arr=9000)
    assert (d.zone, d.zone_rule, d.strategy, d.path) == (Zone.DEAD, "poor_fit_small", Strategy.FAREWELL, SavePath.EXIT)
    assert d.effort_started_at is None and triage.holding(d)


def test_value_is_not_arr_a_vocal_detractor_stays_in_the_red_zone() -> None:
    d = _decide(TriggerKind.LOW_USAGE, fit=Fit.POOR, arr=9000, flags=[AccountFlag.VOCAL_DETRACTOR])
    assert d.zone is Zone.RED and d.zone_rule == "vocal_detractor"
    assert d.strategy is Strategy.FAREWELL  # still their change to make, so still the exit path
    assert d.path is SavePath.EXIT


def test_lost_sponsor_and_little_use_is_a_farewell_unless_strategic() -> None:
    gone = _decide(TriggerKind.SPONSOR_LOST, sponsor_status=SponsorStatus.LOST, usage_pct=22)
    assert (gone.zone, gone.strategy, gone.path) == (Zone.RED, Strategy.FAREWELL, SavePath.EXIT)
    kept = _decide(
        TriggerKind.SPONSOR_LOST, sponsor_status=SponsorStatus.LOST, usage_pct=22, flags=[AccountFlag.STRATEGIC]
    )
    assert kept.path is SavePath.SAVE
    unknown_usage = _decide(TriggerKind.SPONSOR_LOST, sponsor_status=SponsorStatus.LOST, usage_pct=None)
    assert unknown_usage.path is SavePath.SAVE  # a missing reading never counts as "below"


def test_override_rules_the_window_and_one_review() -> None:
    d = _decide(TriggerKind.PRODUCT_GAP)
    assert triage.override_refusal(d, NOW + timedelta(hours=25)) is not None
    assert triage.override_refusal(d, NOW + timedelta(hours=23)) is None
    triage.apply_override(
        d, OverrideTriage(strategy=Strategy.FAREWELL, reason="wrong market", by="Dana"), NOW + timedelta(hours=1)
    )
    assert d.path is SavePath.EXIT and d.override is not None and d.override.previous_path is SavePath.SAVE
    refusal = triage.override_refusal(d, NOW + timedelta(hours=2))
    assert refusal is not None and "already overridden by Dana" in refusal


def test_a_broken_rules_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "triage.yaml"
    bad.write_text("version: 1\nzone_rules:\n  - {id: x, zone: grey_zone, when: {}, because: y}\n")
    with pytest.raises(PlaybookError, match=r"triage.yaml: zone_rules\[0\] \(id 'x'\).zone: unknown value"):
        load_rules_file(bad, TriageRules)


# --- in the save workflow -------------------------------------------------------------------------


async def test_a_red_zone_save_records_its_triage_and_starts_work_at_once(harness: Harness) -> None:
    state = await harness.start("northwind", TriggerKind.PRODUCT_GAP)
    d = state.triage
    assert d is not None and d.path is SavePath.SAVE and d.zone_rule == "reference_customer"
    assert state.stage.value == "investigation"
    await harness.sleep(minutes=5)
    assert await harness.crm_tasks("northwind")  # the acknowledgment call is already a CRM task
    notes = [n.text for n in await harness.services.crm.notes("northwind")]
    assert any(n.startswith("Triage: red zone, rescue -> save path") for n in notes)


async def test_a_dead_zone_save_holds_then_exits_gracefully(harness: Harness) -> None:
    opened = await harness.start("lumenworks", TriggerKind.LOW_USAGE)
    assert opened.stage.value == "triage" and opened.triage is not None
    assert opened.triage.zone is Zone.DEAD
    await harness.sleep(hours=23)
    assert await harness.emails("lumenworks") == [] and await harness.crm_tasks("lumenworks") == []
    held = await harness.state("lumenworks")
    assert "may override until" in await harness.saves.details("lumenworks")
    assert held.tasks and all(t.status.value == "pending" for t in held.tasks.values())
    with pytest.raises(SaveError, match="triage chose the exit path"):
        await harness.act(
            "lumenworks", SaveWorkflow.add_commitment, AddCommitment(what="A discount", owner="csm", due_in="7d")
        )

    await harness.sleep(hours=2)  # the window closed with no override
    state = await harness.wait_in_stage("lumenworks", "exit")
    await harness.sleep(minutes=1)
    emails = await harness.emails("lumenworks")
    assert [e.template for e in emails] == ["farewell"]
    tasks = await harness.crm_tasks("lumenworks")
    assert [t.title for t in tasks] == ["Exit interview with Lumenworks Studio"]
    assert state.triage is not None and close_to(state.triage.effort_started_at, opened.opened_at + timedelta(hours=24))
    with pytest.raises(SaveError, match="override window closed"):
        await harness.act(
            "lumenworks",
            SaveWorkflow.override_triage,
            OverrideTriage(zone=Zone.RED, strategy=Strategy.RESCUE, reason="late", by="Dana"),
        )
    result = await harness.result("lumenworks")
    assert result.closed_reason == "farewell" and result.outcome is None


async def test_a_manager_overrides_a_farewell_into_a_save_within_the_window(harness: Harness) -> None:
    opened = await harness.start("cobaltbay", TriggerKind.SPONSOR_LOST)
    assert opened.stage.value == "triage"
    await harness.sleep(hours=6)
    decision = await harness.act(
        "cobaltbay",
        SaveWorkflow.override_triage,
        OverrideTriage(
            strategy=Strategy.RESCUE, reason="New CFO asked for a meeting; worth one more try", by="Dana Reyes"
        ),
    )
    assert decision.path is SavePath.SAVE and decision.override.by == "Dana Reyes"
    state = await harness.wait_in_stage("cobaltbay", "investigation")
    await harness.sleep(minutes=1)
    state = await harness.state("cobaltbay")
    assert state.playbook.id == "champion_departure"
    assert close_to(state.opened_at, opened.opened_at + timedelta(hours=6))  # the plan starts now
    assert state.first_contact.deadline == opened.first_contact.deadline  # the 48-hour rule does not
    assert await harness.crm_tasks("cobaltbay")
    assert not [e for e in await harness.emails("cobaltbay") if e.template == "farewell"]
    assert state.triage is not None and "overridden by Dana Reyes" in state.triage.reasons[-1]
    with pytest.raises(SaveError, match="already overridden"):
        await harness.act("cobaltbay", SaveWorkflow.override_triage, OverrideTriage(reason="confirm", by="Olu"))


async def test_a_manager_sends_a_running_save_to_the_exit_path(harness: Harness) -> None:
    await harness.start("bluepeak", TriggerKind.LOW_USAGE)
    await harness.sleep(hours=3)
    assert await harness.crm_tasks("bluepeak")
    await harness.act(
        "bluepeak",
        SaveWorkflow.override_triage,
        OverrideTriage(zone=Zone.DEAD, reason="Acquired; the parent uses a rival suite", by="Dana Reyes"),
    )
    state = await harness.wait_in_stage("bluepeak", "exit")
    await harness.sleep(minutes=1)
    assert state.triage is not None and state.triage.path is SavePath.EXIT
    step_tasks = [t for t in await harness.crm_tasks("bluepeak") if "Exit interview" not in t.title]
    assert step_tasks and all(t.status == "cancelled" for t in step_tasks)
    goodbyes = [e.template for e in await harness.emails("bluepeak") if e.template in ("farewell", "exit_interview")]
    assert goodbyes == ["farewell"]
    result = await harness.result("bluepeak")
    assert result.closed_reason == "dead zone"


async def test_a_confirmed_exit_starts_without_waiting_out_the_window(harness: Harness) -> None:
    opened = await harness.start("lumenworks", TriggerKind.LOW_USAGE)
    await harness.sleep(hours=1)
    await harness.act(
        "lumenworks", SaveWorkflow.override_triage, OverrideTriage(reason="Agreed: poor fit", by="Dana Reyes")
    )
    state = await harness.wait_in_stage("lumenworks", "exit")
    assert state.triage is not None and state.triage.confirmed_by == "Dana Reyes"
    assert close_to(state.exit_started_at, opened.opened_at + timedelta(hours=1))
