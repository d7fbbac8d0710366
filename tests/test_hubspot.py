"""The HubSpot adapter against a local server that answers like HubSpot's CRM v3 API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.hubspot.client import HubSpotClient, HubSpotError
from activities.hubspot.crm import NOTE_TO_COMPANY, TASK_TO_COMPANY, HubSpotCrm
from playbook_defs.vocabulary import CancellationReason, OwnerRole, RiskColour, Tier, TriggerKind
from tests.fake_hubspot import TOKEN, FakeHubSpot, running
from tests.harness import Harness, SmtpSink
from worker.runtime.settings import Settings
from workflows.contracts import CrmTaskRequest, NoteRequest, RiskStatusRequest, SaveRef

AT = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
SAVE = SaveRef(account_id="northwind", save_id="save-northwind", playbook_id="product_issue")


def seed(fake: FakeHubSpot) -> str:
    fake.add_owner("501", "Sam", "Ortiz", "sam.ortiz@ourco.example.com")
    fake.add_owner("502", "Dana", "Reyes", "dana.reyes@ourco.example.com")
    fake.add_owner("503", "Mei", "Tanaka", "mei.tanaka@ourco.example.com")
    company = fake.add(
        "companies",
        {
            "name": "Northwind Logistics",
            "saves_account_id": "northwind",
            "saves_tier": "enterprise",
            "saves_arr": "240000",
            "saves_renewal_date": "2027-03-31",
            "saves_health": "38",
            "saves_usage_pct": "61",
            "hubspot_owner_id": "501",
            "saves_owner_executive_sponsor": "503",
        },
    )
    other = fake.add("contacts", {"firstname": "Lee", "lastname": "Chan", "email": "lee@northwind.example"})
    primary = fake.add(
        "contacts",
        {"firstname": "Priya", "lastname": "Nair", "email": "priya@northwind.example", "saves_primary": "true"},
    )
    for contact in (other, primary):
        fake.associate("companies", company, "contacts", contact, 280)
        fake.associate("contacts", contact, "companies", company, 279)
    return company


@pytest.fixture
def fake() -> Iterator[FakeHubSpot]:
    with running() as server:
        seed(server)
        yield server


@pytest.fixture
async def crm(fake: FakeHubSpot) -> AsyncIterator[HubSpotCrm]:
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    adapter = HubSpotCrm(HubSpotClient(TOKEN, fake.url, sleep=no_wait), team_owners={"cs_manager": "502"})
    adapter.waits = waits  # type: ignore[attr-defined]
    yield adapter
    await adapter.aclose()


def _task(key: str) -> CrmTaskRequest:
    return CrmTaskRequest(
        key=key,
        save=SAVE,
        owner=OwnerRole.CSM,
        title="Call the sponsor",
        body="Within 48 hours",
        due_at=AT + timedelta(hours=48),
        at=AT,
    )


async def test_a_company_is_read_as_the_account_with_its_owners_and_contact(crm: HubSpotCrm) -> None:
    account = await crm.get_account("northwind")
    assert account is not None
    assert (account.name, account.tier, account.arr, account.health, account.usage_pct) == (
        "Northwind Logistics",
        Tier.ENTERPRISE,
        240000.0,
        38,
        61.0,
    )
    assert account.renewal_date is not None and account.renewal_date.isoformat() == "2027-03-31"
    assert (account.csm, account.csm_id) == ("Sam Ortiz", "501")
    sponsor = await crm.get_owner("northwind", OwnerRole.EXECUTIVE_SPONSOR)
    manager = await crm.get_owner("northwind", OwnerRole.CS_MANAGER)  # the team-wide owner
    assert sponsor is not None and sponsor.email == "mei.tanaka@ourco.example.com"
    assert manager is not None and manager.name == "Dana Reyes"
    assert await crm.get_owner("northwind", OwnerRole.FINANCE) is None
    contact = await crm.get_primary_contact("northwind")
    assert contact is not None and (contact.name, contact.email) == ("Priya Nair", "priya@northwind.example")
    assert await crm.get_account("nobody") is None
    health = await crm.read_health("northwind")
    assert (health.health, health.usage_pct) == (38, 61.0)


async def test_a_task_is_created_once_on_the_company_even_when_attempts_race(
    crm: HubSpotCrm, fake: FakeHubSpot
) -> None:
    owner = await crm.get_owner("northwind", OwnerRole.CSM)
    ids = await asyncio.gather(*[crm.create_task(_task("save-northwind/task/call"), owner) for _ in range(4)])
    again = await crm.create_task(_task("save-northwind/task/call"), owner)
    assert len({*ids, again}) == 1
    (task,) = fake.records("tasks")
    assert task["properties"]["hs_task_subject"] == "Call the sponsor"
    assert task["properties"]["hs_timestamp"] == "2027-03-03T09:30:00.000Z"
    assert task["properties"]["hubspot_owner_id"] == "501"
    assert task["properties"]["hs_task_status"] == "NOT_STARTED"
    company = fake.records("companies")[0]["id"]
    assert fake.associated("tasks", task["id"], "companies") == [(company, TASK_TO_COMPANY)]
    assert fake.creates("tasks") == 1


async def test_closing_a_task_closes_its_escalations_and_nothing_that_only_looks_alike(
    crm: HubSpotCrm, fake: FakeHubSpot
) -> None:
    for key in (
        "save-northwind/task/call",
        "save-northwind/task/call/escalation/1",
        "save-northwind/task/callback",
        "save-other/task/call",
    ):
        await crm.create_task(_task(key), None)
    assert await crm.close_tasks(["save-northwind/task/call"], "done", AT) == 2
    status = {t["properties"]["saves_key"]: t["properties"]["hs_task_status"] for t in fake.records("tasks")}
    assert status == {
        "save-northwind/task/call": "COMPLETED",
        "save-northwind/task/call/escalation/1": "COMPLETED",
        "save-northwind/task/callback": "NOT_STARTED",
        "save-other/task/call": "NOT_STARTED",
    }
    assert await crm.close_tasks(["save-northwind/task/call"], "done", AT) == 0


async def test_notes_and_risk_status_are_written_once(crm: HubSpotCrm, fake: FakeHubSpot) -> None:
    note = NoteRequest(key="save-northwind/note/opened", save=SAVE, text="Save opened", at=AT)
    await crm.add_note(note)
    await crm.add_note(note)
    risk = RiskStatusRequest(save=SAVE, risk=RiskColour.RED, reason="cancellation request", at=AT)
    await crm.set_risk_status(risk)
    await crm.set_risk_status(risk)
    bodies = sorted(n["properties"]["hs_note_body"] for n in fake.records("notes"))
    assert bodies == ["Risk status red: cancellation request", "Save opened"]
    company = fake.records("companies")[0]
    assert company["properties"]["saves_risk_status"] == "red"
    assert all(
        fake.associated("notes", n["id"], "companies") == [(company["id"], NOTE_TO_COMPANY)]
        for n in fake.records("notes")
    )


async def test_rate_limits_are_waited_out_as_hubspot_asks(crm: HubSpotCrm, fake: FakeHubSpot) -> None:
    fake.throttle("2", "1")
    account = await crm.get_account("northwind")
    assert account is not None
    assert crm.waits == [2.0, 1.0]  # type: ignore[attr-defined]
    assert [s for _, _, s in fake.requests[:3]] == [429, 429, 200]


async def test_a_rate_limit_that_does_not_end_fails_the_attempt_for_temporal_to_retry(
    crm: HubSpotCrm, fake: FakeHubSpot
) -> None:
    fake.throttle(*["1"] * 5)
    with pytest.raises(HubSpotError) as raised:
        await crm.create_task(_task("save-northwind/task/call"), None)
    assert raised.value.status == 429 and raised.value.category == "RATE_LIMITS"
    assert fake.records("tasks") == []
    await crm.create_task(_task("save-northwind/task/call"), None)  # the retry
    assert len(fake.records("tasks")) == 1


async def test_errors_name_the_request_and_hubspot_s_reason(fake: FakeHubSpot) -> None:
    client = HubSpotClient("wrong-token", fake.url)
    try:
        with pytest.raises(HubSpotError, match="401 INVALID_AUTHENTICATION"):
            await client.request("GET", "/crm/v3/objects/companies/1")
    finally:
        await client.aclose()
    crm = HubSpotCrm(HubSpotClient(TOKEN, fake.url))
    try:
        with pytest.raises(HubSpotError, match="no company has saves_account_id='ghost'"):
            await crm.create_task(
                _task("save-ghost/task/call").model_copy(
                    update={"save": SAVE.model_copy(update={"account_id": "ghost"})}
                ),
                None,
            )
        company = fake.records("companies")[0]
        company["properties"]["saves_tier"] = "gold"
        with pytest.raises(HubSpotError, match="saves_tier 'gold' must be one of enterprise, mid_market, smb"):
            await crm.get_account("northwind")
        with pytest.raises(HubSpotError, match="404 OBJECT_NOT_FOUND"):
            await crm.client.request("GET", "/crm/v3/objects/companies/999999")
    finally:
        await crm.aclose()


async def test_saves_crm_hubspot_sends_a_save_s_work_to_hubspot(
    fake: FakeHubSpot, time_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink
) -> None:
    """Chosen by configuration: the same save, with its tasks and risk status in HubSpot and its
    emails addressed to the owners HubSpot names."""
    on_hubspot = settings.model_copy(
        update={
            "crm": "hubspot",
            "hubspot_token": SecretStr(TOKEN),
            "hubspot_base_url": fake.url,
            "hubspot_team_owners": {"cs_manager": "502", "head_of_cs": "502", "executive_sponsor": "503"},
        }
    )
    async with Harness.running(time_env, on_hubspot, smtp) as h:
        await h.start("northwind", TriggerKind.CANCELLATION_REQUEST, reason=CancellationReason.PRODUCT)
        await h.sleep(hours=1)
        state = await h.state("northwind")
        opened = {f"{state.save_id}/task/{t.id}" for t in state.tasks.values() if t.opened_at}
        in_hubspot = {t["properties"]["saves_key"] for t in fake.records("tasks")}
        assert opened and opened <= in_hubspot
        assert await h.crm_tasks("northwind") == []  # nothing went to the SQL store's CRM tables
        assert fake.records("companies")[0]["properties"]["saves_risk_status"] == "red"
        assert any("dana.reyes@ourco.example.com" in str(m["To"]) for m in smtp.messages)
