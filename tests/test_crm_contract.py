"""The contract every CRM adapter keeps: the SQL store, HubSpot and Salesforce (against local servers
that answer like their REST APIs). The same test runs on each; a new adapter joins ``ADAPTERS``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.crm_activities import CrmActivities
from activities.crm_errors import CRM_REJECTED, RejectedByCrm, retryable
from activities.store import crm_inbound
from playbook_defs.vocabulary import OwnerRole, RiskColour, Tier
from tests.crm_worlds import ADAPTERS, World, world
from workflows.contracts import (
    AssignOwnerRequest,
    CrmTaskRequest,
    InboundKind,
    NoteRequest,
    RiskStatusRequest,
    SaveRef,
    TouchChannel,
)

AT = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
SAVE = SaveRef(account_id="northwind", save_id="save-northwind", playbook_id="product_issue")


@pytest.fixture(params=ADAPTERS)
async def crm(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    async with world(request.param, tmp_path) as w:
        yield w


def task(key: str, save: SaveRef = SAVE) -> CrmTaskRequest:
    return CrmTaskRequest(
        key=key,
        save=save,
        owner=OwnerRole.CSM,
        title="Call the sponsor",
        body="Within 48 hours",
        due_at=AT + timedelta(hours=48),
        at=AT,
    )


async def test_lookups_read_the_account_its_owners_contact_and_health(crm: World) -> None:
    account = await crm.crm.get_account("northwind")
    assert account is not None
    assert (account.name, account.tier, account.arr, account.health, account.usage_pct) == (
        "Northwind Logistics",
        Tier.ENTERPRISE,
        240000.0,
        38,
        61.0,
    )
    assert account.renewal_date is not None and account.renewal_date.isoformat() == "2027-03-31"
    assert (account.csm, account.csm_id) == ("Sam Ortiz", crm.users["sam"])
    sponsor = await crm.crm.get_owner("northwind", OwnerRole.EXECUTIVE_SPONSOR)
    manager = await crm.crm.get_owner("northwind", OwnerRole.CS_MANAGER)  # the team-wide owner
    assert sponsor is not None and (sponsor.name, sponsor.email, sponsor.person_id) == (
        "Mei Tanaka",
        "mei.tanaka@ourco.example.com",
        crm.users["mei"],
    )
    assert manager is not None and (manager.name, manager.person_id) == ("Dana Reyes", crm.users["dana"])
    assert await crm.crm.get_owner("northwind", OwnerRole.FINANCE) is None
    contact = await crm.crm.get_primary_contact("northwind")
    assert contact is not None and (contact.name, contact.email) == ("Priya Nair", "priya@northwind.example")
    health = await crm.crm.read_health("northwind")
    assert (health.health, health.usage_pct) == (38, 61.0)
    assert await crm.crm.get_account("nobody") is None
    assert (await crm.crm.read_health("nobody")).health is None


async def test_a_task_written_twice_or_by_racing_attempts_is_one_task_with_its_owner(crm: World) -> None:
    owner = await crm.crm.get_owner("northwind", OwnerRole.CSM)
    ids = await asyncio.gather(*[crm.crm.create_task(task("save-northwind/task/call"), owner) for _ in range(3)])
    again = await crm.crm.create_task(task("save-northwind/task/call"), owner)
    assert len({*ids, again}) == 1
    assert await crm.tasks() == {"save-northwind/task/call": (True, crm.users["sam"])}


async def test_a_note_written_twice_is_one_note(crm: World) -> None:
    note = NoteRequest(key="save-northwind/note/opened", save=SAVE, text="Save opened", at=AT)
    await crm.crm.add_note(note)
    await crm.crm.add_note(note)
    assert await crm.notes() == ["Save opened"]


async def test_risk_status_set_twice_is_recorded_once(crm: World) -> None:
    risk = RiskStatusRequest(save=SAVE, risk=RiskColour.RED, reason="cancellation request", at=AT)
    await crm.crm.set_risk_status(risk)
    await crm.crm.set_risk_status(risk)
    assert await crm.risk() == ("red", 1)


async def test_closing_a_task_closes_its_escalations_and_nothing_that_only_looks_alike(crm: World) -> None:
    other = SaveRef(account_id="northwind", save_id="save-other", playbook_id="product_issue")
    for key in ("save-northwind/task/call", "save-northwind/task/call/escalation/1", "save-northwind/task/callback"):
        await crm.crm.create_task(task(key), None)
    await crm.crm.create_task(task("save-other/task/call", other), None)
    assert await crm.crm.close_tasks(["save-northwind/task/call"], "done", AT) == 2
    assert {k: is_open for k, (is_open, _) in (await crm.tasks()).items()} == {
        "save-northwind/task/call": False,
        "save-northwind/task/call/escalation/1": False,
        "save-northwind/task/callback": True,
        "save-other/task/call": True,
    }
    assert await crm.crm.close_tasks(["save-northwind/task/call"], "done", AT) == 0


async def test_a_new_owner_gets_the_role_and_its_open_tasks(crm: World) -> None:
    sam = await crm.crm.get_owner("northwind", OwnerRole.CSM)
    await crm.crm.create_task(task("save-northwind/task/call"), sam)
    await crm.crm.create_task(task("save-northwind/task/review"), sam)
    await crm.crm.close_tasks(["save-northwind/task/review"], "done", AT)
    change = AssignOwnerRequest(
        save=SAVE,
        role=OwnerRole.CSM,
        owner_id=crm.users["dana"],
        name="Dana Reyes",
        email="dana.reyes@ourco.example.com",
        at=AT,
    )
    assert await crm.crm.assign_owner(change) == 1
    dana = await crm.crm.get_owner("northwind", OwnerRole.CSM)
    assert dana is not None and (dana.name, dana.person_id) == ("Dana Reyes", crm.users["dana"])
    assert (await crm.tasks())["save-northwind/task/call"] == (True, crm.users["dana"])
    assert (await crm.tasks())["save-northwind/task/review"][1] == crm.users["sam"]  # closed work stays
    assert await crm.crm.assign_owner(change) == 0


async def test_a_rate_limited_or_busy_crm_fails_the_attempt_as_retryable_and_the_retry_writes_once(
    crm: World,
) -> None:
    crm.busy(5)
    with pytest.raises(Exception) as raised:
        await crm.crm.create_task(task("save-northwind/task/call"), None)
    assert retryable(raised.value), raised.value
    crm.idle()
    assert await crm.tasks() == {}
    activities = CrmActivities(crm.crm)
    ref = await ActivityEnvironment().run(activities.create_task, task("save-northwind/task/call"))
    assert ref.owner_name == "Sam Ortiz"
    assert list(await crm.tasks()) == ["save-northwind/task/call"]


async def test_data_the_crm_rejects_fails_the_activity_without_retries(crm: World) -> None:
    activities = CrmActivities(crm.crm)
    ghost = SaveRef(account_id="ghost", save_id="save-ghost", playbook_id="product_issue")
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(activities.create_task, task("save-ghost/task/call", ghost))
    assert raised.value.non_retryable and raised.value.type == CRM_REJECTED
    assert "ghost" in str(raised.value)
    with pytest.raises(ApplicationError) as note_raised:
        await ActivityEnvironment().run(
            activities.add_note, NoteRequest(key="save-ghost/note/opened", save=ghost, text="Save opened", at=AT)
        )
    assert note_raised.value.non_retryable
    assert await crm.tasks() == {}


async def test_work_done_in_the_crm_is_read_back_as_inbound_events_with_the_crm_s_time_and_people(
    crm: World,
) -> None:
    sam = await crm.crm.get_owner("northwind", OwnerRole.CSM)
    for key in ("save-northwind/task/call", "save-northwind/task/review", "save-northwind/task/brief"):
        await crm.crm.create_task(task(key), sam)
    start = await crm.crm.changes_since(None)
    assert [e for e in start.events if e.task_key] == []  # the saves do not hear their own writes
    call_at = datetime(2027, 3, 1, 5, 15, tzinfo=UTC)  # logged later than it happened
    await crm.complete_in_crm("save-northwind/task/call", AT + timedelta(hours=2))
    await crm.log_call(call_at)
    await crm.reassign_in_crm(AT + timedelta(hours=3))
    await crm.delete_in_crm("save-northwind/task/review", AT + timedelta(hours=4))
    await crm.crm.close_tasks(["save-northwind/task/brief"], "cancelled", AT)  # the save's own close

    page = await crm.crm.changes_since(start.cursor)
    by_kind = {(e.kind, e.task_key or e.account_id): e for e in page.events}
    done = by_kind[InboundKind.TASK_COMPLETED, "save-northwind/task/call"]
    assert (done.by, done.save_id, done.account_id, done.at.tzinfo is not None) == (
        "Sam Ortiz",
        "save-northwind",
        "northwind",
        True,
    )
    touch = by_kind[InboundKind.CUSTOMER_TOUCH, "northwind"]
    assert (touch.at, touch.contact, touch.channel) == (call_at, "Priya Nair", TouchChannel.CALL)
    owners = [e for e in page.events if e.kind is InboundKind.OWNER_CHANGED and e.role is OwnerRole.CSM]
    assert [(e.account_id, e.owner_id, e.owner_name) for e in owners] == [
        ("northwind", crm.users["dana"], "Dana Reyes")
    ]
    assert by_kind[InboundKind.TASK_DELETED, "save-northwind/task/review"].account_id == "northwind"
    assert not any(e.task_key == "save-northwind/task/brief" for e in page.events)

    again = await crm.crm.changes_since(start.cursor)  # a second read: the same events, the same keys
    assert {e.key for e in again.events} == {e.key for e in page.events}
    later = await crm.crm.changes_since(page.cursor)  # past the cursor, at most a repeat of the overlap
    assert {e.key for e in later.events} <= {e.key for e in page.events}


async def test_a_call_with_someone_who_is_not_the_account_s_contact_is_no_customer_touch(crm: World) -> None:
    if crm.name == "sql":
        with pytest.raises(RejectedByCrm, match="'Ada Lovelace' is not a contact of 'northwind'"):
            await crm_inbound.log_touch(crm.crm.engine, "northwind", "Ada Lovelace", AT)  # type: ignore[attr-defined]
        return
    await crm.log_call(AT, contact="stranger")
    page = await crm.crm.changes_since(None)
    assert [e for e in page.events if e.kind is InboundKind.CUSTOMER_TOUCH] == []
