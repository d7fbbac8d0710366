"""``saves crm task done`` and ``saves crm log-call`` act as a person in the CRM would: the task is
done in the CRM and the saves read both changes back, with the CRM's time and people."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activities.store.crm_inbound import changes_since
from activities.store.db import make_engine
from activities.store.sql_crm import SqlCrm
from playbook_defs.vocabulary import OwnerRole
from worker.cli import app
from worker.runtime.settings import Settings
from workflows.contracts import CrmTaskRequest, InboundKind, SaveRef, TouchChannel

CRM = """
accounts:
  - id: acme
    name: Acme
    tier: smb
    arr: 12000
    owners: {csm: {id: sam, name: Sam Ortiz}}
    contacts: [{name: Priya Nair, email: priya@acme.example, primary: true}]
"""


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SAVES_DATA_DIR", str(tmp_path / "saves"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "crm.yaml").write_text(CRM)
    assert CliRunner().invoke(app, ["crm", "import", "crm.yaml"]).exit_code == 0
    return tmp_path


async def _task_and_changes(
    create: bool,
) -> tuple[list[str], list[tuple[InboundKind, str | None, datetime, str | None]]]:
    engine = make_engine(Settings().db_url)
    try:
        crm = SqlCrm(engine)
        if create:
            save = SaveRef(account_id="acme", save_id="save-acme", playbook_id="product_issue")
            at = datetime(2027, 3, 1, tzinfo=UTC)
            request = CrmTaskRequest(
                key="save-acme/task/call", save=save, owner=OwnerRole.CSM, title="Call", due_at=at, at=at
            )
            await crm.create_task(request, None)
        page = await changes_since(engine, None)
        return [t.status for t in await crm.tasks("acme")], [
            (e.kind, e.task_key or e.account_id, e.at, e.by) for e in page.events
        ]
    finally:
        await engine.dispose()


def test_task_done_and_log_call_are_read_back_as_the_crm_s_changes(store: Path) -> None:
    asyncio.run(_task_and_changes(create=True))
    done = CliRunner().invoke(app, ["crm", "task", "done", "T-1", "--by", "Sam Ortiz", "--at", "2027-03-02T10:00"])
    assert done.exit_code == 0, done.output
    call = [
        "crm",
        "log-call",
        "acme",
        "--with",
        "priya@acme.example",
        "--at",
        "2027-03-01T20:00+00:00",
        "--by",
        "Sam Ortiz",
    ]
    assert CliRunner().invoke(app, call).exit_code == 0
    statuses, events = asyncio.run(_task_and_changes(create=False))
    assert statuses == ["done"]
    assert events == [
        (InboundKind.TASK_COMPLETED, "save-acme/task/call", datetime(2027, 3, 2, 10, tzinfo=UTC), "Sam Ortiz"),
        (InboundKind.CUSTOMER_TOUCH, "acme", datetime(2027, 3, 1, 20, tzinfo=UTC), "Sam Ortiz"),
    ]
    listed = CliRunner().invoke(app, ["crm", "changes"])
    assert "task_completed" in listed.output and "customer_touch" in listed.output
    assert TouchChannel.CALL.value in listed.output


def test_bad_input_names_the_field_and_changes_nothing(store: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app, ["crm", "log-call", "acme", "--with", "Bob", "--at", "2027-03-01T20:00"])
    assert unknown.exit_code == 2 and "'Bob' is not a contact of 'acme'" in unknown.output
    bad_time = runner.invoke(app, ["crm", "log-call", "acme", "--with", "Priya Nair", "--at", "yesterday"])
    assert bad_time.exit_code == 2 and "--at: 'yesterday' is not an ISO 8601 time" in bad_time.output
    no_task = runner.invoke(app, ["crm", "task", "done", "save-acme/task/nope", "--by", "Sam"])
    assert no_task.exit_code == 2 and "no CRM task has the key 'save-acme/task/nope'" in no_task.output
    assert asyncio.run(_task_and_changes(create=False))[1] == []
