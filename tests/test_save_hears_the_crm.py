"""The save hears the CRM, on the time-skipping server, for each CRM (the SQL store, HubSpot and
Salesforce against their local servers). No webhook is sent: every change reaches the save
through the reconciler, which is how a webhook missed entirely is still picked up."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.store.sql_crm import SqlCrm
from playbook_defs.vocabulary import TriggerKind
from tests import fake_hubspot, fake_salesforce
from tests.crm_worlds import ADAPTERS, World, hubspot_world, salesforce_world
from tests.harness import Harness, SmtpSink, close_to
from tests.test_hubspot_webhook import APP_SECRET, BASE, deliver, event
from worker.api.app import create_app
from worker.runtime.settings import Settings
from workflows.contracts import CrmSyncReport, InboundKind, crm_name
from workflows.crm_reconciler import CrmReconcilerWorkflow
from workflows.models import CrmDecision, SaveState, TaskStatus
from workflows.postmortem import timeline

TEAM = ("cs_manager", "head_of_cs", "executive_sponsor")


@asynccontextmanager
async def saves_on(
    adapter: str, env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink
) -> AsyncIterator[tuple[Harness, World]]:
    """A harness whose saves use ``adapter``'s CRM, and that CRM's user interface."""
    if adapter == "sql":
        async with Harness.running(env, settings, smtp) as h:
            yield h, World("sql", SqlCrm(h.services.engine), {"sam": "u-sam"})
        return
    make = hubspot_world if adapter == "hubspot" else salesforce_world
    async with make() as world:
        if adapter == "hubspot":
            update = {
                "crm": "hubspot",
                "hubspot_token": SecretStr(fake_hubspot.TOKEN),
                "hubspot_base_url": world.native.url,
                "hubspot_team_owners": dict.fromkeys(TEAM, "502"),
            }
        else:
            update = {
                "crm": "salesforce",
                "salesforce_login_url": world.native.url,
                "salesforce_client_id": fake_salesforce.CLIENT_ID,
                "salesforce_client_secret": SecretStr(fake_salesforce.CLIENT_SECRET),
                "salesforce_team_owners": dict.fromkeys(TEAM, world.users["dana"]),
            }
        async with Harness.running(env, settings.model_copy(update=update), smtp) as h:
            yield h, world


async def at_crm_time(h: Harness, world: World) -> datetime:
    """The save's clock now, and the CRM's clock set to it (the fakes date their writes)."""
    now = await h.now()
    if world.name in ("hubspot", "salesforce"):
        world.native.clock = now
    return now


async def reconcile(h: Harness) -> CrmSyncReport:
    return await h.client.execute_workflow(
        CrmReconcilerWorkflow.run, id=f"crm-reconciler-{uuid.uuid4().hex[:6]}", task_queue=h.saves.task_queue
    )


async def open_value_save(h: Harness) -> SaveState:
    return await h.start("northwind", TriggerKind.LOW_USAGE, playbook="value_roi")  # first contact within 48h


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_a_task_done_in_the_crm_stops_its_escalation_ladder_before_the_next_rung(
    adapter: str, time_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink, tmp_path: Path
) -> None:
    async with saves_on(adapter, time_env, settings, smtp) as (h, crm):
        s = await open_value_save(h)
        await h.sleep(hours=25)  # due at 24h: the first rung (the CS manager) has fired
        s = await h.state("northwind")
        assert len(s.escalations_for("task/pull_usage_data")) == 1
        done_at = await at_crm_time(h, crm)
        await crm.complete_in_crm(f"{s.save_id}/task/pull_usage_data", done_at)
        first = await reconcile(h)
        second = await reconcile(h)  # the same change read again (and, for HubSpot, its overlap)
        assert first.delivered >= 1 and second.delivered <= first.delivered
        await h.sleep(hours=60)  # past the second rung (due + 48h)
        s = await h.state("northwind")
        task = s.tasks["pull_usage_data"]
        assert task.status is TaskStatus.DONE and task.done_by == "Sam Ortiz"
        assert close_to(task.done_at, done_at, timedelta(seconds=5)) and task.overdue
        assert len(s.escalations_for("task/pull_usage_data")) == 1  # the executive sponsor was never asked
        applied = [r for r in s.crm_events if r.kind is InboundKind.TASK_COMPLETED]
        assert [r.decision for r in applied] == [CrmDecision.APPLIED]  # heard twice, applied once
        done_line = f"Done in {crm_name(adapter)} by Sam Ortiz: Pull the customer's usage and outcome data (late)"
        assert done_line in [e.text for e in timeline(s, [], await h.now())]


async def test_a_call_logged_for_hour_20_keeps_the_48_hour_rule(
    adapter: str, time_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink
) -> None:
    async with saves_on(adapter, time_env, settings, smtp) as (h, crm):
        s = await open_value_save(h)
        await h.sleep(hours=20)
        call_at = await at_crm_time(h, crm)
        await h.sleep(hours=10)  # logged and heard ten hours after the call
        await at_crm_time(h, crm)
        await crm.log_call(call_at)
        await reconcile(h)
        s = await h.state("northwind")
        assert s.first_contact.kept is True and close_to(s.first_contact.at, call_at, timedelta(seconds=1))
        assert s.tasks["discovery_call"].status is TaskStatus.DONE
        await h.sleep(hours=30)  # the 48-hour deadline passes: nothing flips
        s = await h.state("northwind")
        assert s.first_contact.kept is True
        assert s.escalations_for("task/discovery_call") == []


async def test_a_call_logged_for_hour_50_records_the_rule_broken_with_the_real_time(
    adapter: str, time_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink
) -> None:
    async with saves_on(adapter, time_env, settings, smtp) as (h, crm):
        await open_value_save(h)
        await h.sleep(hours=50)
        call_at = await at_crm_time(h, crm)
        await h.sleep(hours=1)
        await at_crm_time(h, crm)
        await crm.log_call(call_at)
        await reconcile(h)
        s = await h.state("northwind")
        assert s.first_contact.kept is False and close_to(s.first_contact.at, call_at, timedelta(seconds=1))
        record = next(r for r in s.crm_events if r.kind is InboundKind.CUSTOMER_TOUCH)
        assert "after the 48-hour window" in record.text and record.by == "Sam Ortiz"


async def test_an_owner_changed_and_a_task_deleted_in_the_crm(
    adapter: str, time_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink
) -> None:
    async with saves_on(adapter, time_env, settings, smtp) as (h, crm):
        s = await open_value_save(h)
        await h.sleep(hours=1)
        now = await at_crm_time(h, crm)
        await crm.reassign_in_crm(now)
        await crm.delete_in_crm(f"{s.save_id}/task/review_csm_notes", now)
        await reconcile(h)
        await h.sleep(hours=1)
        s = await h.state("northwind")
        assert s.account.csm == "Dana Reyes"
        assert [(c.role.value, c.name, c.reason) for c in s.owner_changes] == [
            ("csm", "Dana Reyes", f"changed in {crm_name(adapter)}")
        ]
        assert s.owner_changes[0].synced  # the save's open CRM tasks were moved to her
        deleted = next(r for r in s.crm_events if r.kind is InboundKind.TASK_DELETED)
        assert deleted.needs_attention and deleted.task_id == "review_csm_notes"
        assert s.tasks["review_csm_notes"].is_active  # neither recreated nor dropped
        lines = [e.text for e in timeline(s, [], await h.now())]
        assert any("its CRM task was deleted" in line and "needs attention" in line for line in lines)


async def test_a_hubspot_webhook_and_the_reconciler_reading_the_same_change_change_the_save_once(
    time_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink
) -> None:
    async with saves_on("hubspot", time_env, settings, smtp) as (h, crm):
        s = await open_value_save(h)
        await h.sleep(hours=2)
        done_at = await at_crm_time(h, crm)
        key = f"{s.save_id}/task/pull_usage_data"
        await crm.complete_in_crm(key, done_at)
        task_id = next(r["id"] for r in crm.native.records("tasks") if r["properties"]["saves_key"] == key)
        app = create_app(engine=h.services.engine, secrets=["x"], hubspot_app_secret=APP_SECRET)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
            for _ in range(2):  # HubSpot delivers it twice
                assert (await deliver(http, [event(9001, task_id)])).status_code == 200
        await reconcile(h)
        await reconcile(h)
        s = await h.state("northwind")
        heard = [r for r in s.crm_events if r.kind is InboundKind.TASK_COMPLETED]
        assert [(r.decision, r.by) for r in heard] == [(CrmDecision.APPLIED, "Sam Ortiz")]
        assert s.tasks["pull_usage_data"].done_by == "Sam Ortiz"
