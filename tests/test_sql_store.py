"""The SQL store behaves the same on SQLite and PostgreSQL: idempotent writes, one send per key."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from activities.store.db import create_schema, make_engine
from activities.store.outbox import Claim, Outbox, Outgoing
from activities.store.sql_crm import SqlCrm
from playbook_defs.vocabulary import CancellationReason, OwnerRole, TriggerKind
from tests.harness import Harness, SmtpSink
from tests.stores import BACKENDS, store_url
from worker.demo import load_demo_crm
from worker.runtime.settings import Settings
from workflows.contracts import CrmTaskRequest, NoteRequest, SaveRef

AT = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
ACK = Outgoing(
    key="save-northwind/email/ack",
    account_id="northwind",
    save_id="save-northwind",
    template="acknowledgment",
    recipient="customer",
    to_address="ana@northwind.example",
    to_name="Ana",
    subject="We hear you",
    body="...",
)
SAVE = SaveRef(account_id="northwind", save_id="save-northwind", playbook_id="product_issue")


@pytest.fixture(params=BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with store_url(request.param, tmp_path) as url:
        engine = make_engine(url)
        await create_schema(engine)
        await load_demo_crm(engine)
        try:
            yield engine
        finally:
            await engine.dispose()


def _task(key: str) -> CrmTaskRequest:
    return CrmTaskRequest(
        key=key, save=SAVE, owner=OwnerRole.CSM, title="Call the sponsor", due_at=AT + timedelta(hours=48), at=AT
    )


async def test_a_task_key_creates_one_task_even_when_attempts_race(engine: AsyncEngine) -> None:
    crm = SqlCrm(engine)
    owner = await crm.get_owner("northwind", OwnerRole.CSM)
    ids = await asyncio.gather(*[crm.create_task(_task("save-northwind/task/call"), owner) for _ in range(6)])
    assert len(set(ids)) == 1
    tasks = await crm.tasks("northwind")
    assert len(tasks) == 1
    assert tasks[0].due_at == AT + timedelta(hours=48)  # aware UTC back, on both databases
    assert owner is not None and tasks[0].owner_name == owner.name


async def test_closing_a_task_closes_its_escalations_and_nothing_that_only_looks_alike(engine: AsyncEngine) -> None:
    crm = SqlCrm(engine)
    for key in (
        "save-northwind/task/a_b",
        "save-northwind/task/a_b/escalation/1",
        "save-northwind/task/aXb",
        "save-northwind/task/a_b2",
    ):
        await crm.create_task(_task(key), None)
    closed = await crm.close_tasks(["save-northwind/task/a_b"], "done", AT)
    assert closed == 2
    status = {t.key: t.status for t in await crm.tasks("northwind")}
    assert status == {
        "save-northwind/task/a_b": "done",
        "save-northwind/task/a_b/escalation/1": "done",
        "save-northwind/task/aXb": "open",
        "save-northwind/task/a_b2": "open",
    }


async def test_a_note_is_written_once(engine: AsyncEngine) -> None:
    crm = SqlCrm(engine)
    note = NoteRequest(key="save-northwind/note/opened", save=SAVE, text="Save opened", at=AT)
    await asyncio.gather(crm.add_note(note), crm.add_note(note), crm.add_note(note))
    assert [n.text for n in await crm.notes("northwind")] == ["Save opened"]


async def test_racing_sends_of_one_email_deliver_it_once(engine: AsyncEngine) -> None:
    delivered: list[str] = []

    async def deliver(email: Outgoing, claim: Claim) -> None:
        await asyncio.sleep(0.05)  # a slow SMTP server: the other attempts arrive meanwhile
        if await claim():
            delivered.append(email.key)

    outbox = Outbox(engine)
    email = ACK
    statuses = await asyncio.gather(*[outbox.send_once(email, AT, deliver) for _ in range(5)])
    assert delivered == ["save-northwind/email/ack"]
    assert "sent" in statuses
    assert [e.status for e in await outbox.emails("northwind")] == ["sent"]


async def test_an_email_kept_without_sending_is_written_once(engine: AsyncEngine) -> None:
    """Without SMTP an email is recorded, and without an address it is undeliverable: retried or
    racing attempts write one row and all answer its status."""
    outbox = Outbox(engine)
    email = ACK
    assert await asyncio.gather(*[outbox.send_once(email, AT, None) for _ in range(4)]) == ["recorded"] * 4
    nobody = dataclasses.replace(email, key="save-northwind/email/sponsor", to_address=None)
    assert [await outbox.send_once(nobody, AT, None) for _ in range(2)] == ["undeliverable"] * 2
    rows = await outbox.emails("northwind")
    assert [(e.key, e.status, e.sent_at) for e in rows] == [
        ("save-northwind/email/ack", "recorded", None),
        ("save-northwind/email/sponsor", "undeliverable", None),
    ]


async def test_import_is_an_upsert(engine: AsyncEngine) -> None:
    crm = SqlCrm(engine)
    before = await crm.account_ids()
    await load_demo_crm(engine)
    assert await crm.account_ids() == before
    account = await crm.get_account("northwind")
    assert account is not None and account.name


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_save_runs_its_first_steps_on_the_store(
    backend: str, tmp_path: Path, time_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink
) -> None:
    """The worker's whole path (migrations at start, tasks, outbox, SMTP) on each database."""
    async with store_url(backend, tmp_path) as url:
        on_store = settings.model_copy(update={"database_url": url})
        async with Harness.running(time_env, on_store, smtp) as h:
            await h.start("northwind", TriggerKind.CANCELLATION_REQUEST, reason=CancellationReason.PRODUCT)
            await h.sleep(hours=1)
            tasks, emails = await h.crm_tasks("northwind"), await h.emails("northwind")
            assert tasks and all(t.due_at.tzinfo is not None for t in tasks)
            assert emails and {e.status for e in emails} == {"sent"}
            assert len(smtp.messages) == len(emails)
