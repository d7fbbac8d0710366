"""A step that can never succeed is recorded on the save as needing attention; the save goes on,
operations are told once, and an operator retries the step after fixing its cause or skips it."""

from __future__ import annotations

import asyncio
import email
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import Message
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker
from typer.testing import CliRunner

from activities.email_activities import EMAIL_REFUSED, EMAIL_UNCERTAIN, EmailActivities
from playbook_defs.loader import load_playbooks
from playbook_defs.vocabulary import TriggerKind
from tests import codec_keys
from tests.api_client import api_client
from tests.conftest import smtp_server
from tests.harness import Harness, SmtpSink
from tests.replay_changed import SaveBeforeTheAttribute, SaveWithTheAttributeUnpatched
from worker.cli import app
from worker.demo import load_demo_crm
from worker.runtime.runner import Services, build_services
from worker.runtime.save_client import SaveClient, SaveError
from worker.runtime.settings import Settings
from workflows import search_attributes as sa
from workflows.contracts import ActivityName, EmailReceipt, EmailRequest
from workflows.ids import save_workflow_id
from workflows.models import AttentionAction, AttentionStatus, NeedsAttention, ResolveAttention, SaveState
from workflows.postmortem import timeline
from workflows.save import SaveWorkflow


class RelayLostTheAnswer(EmailActivities):
    """Every internal alert ends as if the relay took the message and its answer was lost."""

    @activity.defn(name=ActivityName.SEND_EMAIL.value)
    async def send_email(self, request: EmailRequest) -> EmailReceipt:
        if request.template == "internal_alert":
            raise ApplicationError(
                f"email {request.key}: timed out after the message was sent", type=EMAIL_UNCERTAIN, non_retryable=True
            )
        return await super().send_email(request)


def _with_lost_answers(services: Services) -> list[Any]:
    e = services.email_activities
    lost = RelayLostTheAnswer(e.crm, e.outbox, e.renderer, e.delivery)
    return [lost.send_email if getattr(a, "__name__", "") == "send_email" else a for a in services.activities()]


async def _needs_attention_attribute(h: Harness, account: str) -> bytes | None:
    """SaveNeedsAttention as stored: the SDK cannot decode the time-skipping server's datetime attributes."""
    described = await h.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=h.client.namespace, execution=WorkflowExecution(workflow_id=save_workflow_id(account))
        )
    )
    fields = described.workflow_execution_info.search_attributes.indexed_fields
    return fields[sa.NEEDS_ATTENTION.name].data if sa.NEEDS_ATTENTION.name in fields else None


async def test_an_email_that_fails_for_good_is_flagged_and_the_save_goes_on(
    time_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink
) -> None:
    async with Harness.running(time_env, settings, smtp, activities=_with_lost_answers) as h:
        await h.start("northwind", TriggerKind.PRODUCT_GAP)
        await h.sleep(days=3)
        state = await h.state("northwind")
        flagged = [p for p in state.needs_attention if p.error == EMAIL_UNCERTAIN]
        assert len(flagged) == 1, state.needs_attention
        assert "timed out after the message was sent" in flagged[0].message
        # the rest of the save went on: later steps opened, and the run is still running
        assert state.automated["escalate_to_product"].done_at is not None
        assert any(t.crm_task_id for t in state.tasks.values())
        history = await h.client.get_workflow_handle(save_workflow_id("northwind")).fetch_history()
        assert not any(e.HasField("workflow_execution_failed_event_attributes") for e in history.events)
        assert "Needs attention" in await h.saves.details("northwind")
        assert await _needs_attention_attribute(h, "northwind") == b"true"


async def test_a_save_started_before_the_attribute_replays_without_it(
    time_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink
) -> None:
    """A save running on the previous release, with a step needing attention, keeps replaying on
    this one: SaveNeedsAttention is behind the patch. Without the patch it would not."""
    services = await build_services(settings)
    await load_demo_crm(services.engine)
    queue = "before-the-attribute"
    saves = SaveClient(time_env.client, queue, load_playbooks(settings.playbook_dir), services.crm)
    h = Harness(time_env, settings, services, saves, smtp)
    try:
        async with Worker(
            time_env.client,
            task_queue=queue,
            workflows=[SaveBeforeTheAttribute],
            activities=_with_lost_answers(services),
        ):
            await h.start("northwind", TriggerKind.PRODUCT_GAP)
            await h.sleep(days=3)
            assert [p.error for p in (await h.state("northwind")).needs_attention] == [EMAIL_UNCERTAIN]
            assert await _needs_attention_attribute(h, "northwind") is None
            history = await h.client.get_workflow_handle(save_workflow_id("northwind")).fetch_history()
    finally:
        await services.engine.dispose()
    converter = codec_keys.converter()
    await Replayer(workflows=[SaveWorkflow], data_converter=converter).replay_workflow(history)
    with pytest.raises(Exception, match=r"(?i)nondetermin"):
        await Replayer(workflows=[SaveWithTheAttributeUnpatched], data_converter=converter).replay_workflow(history)


# --- operators retry or skip what needs attention; operations are told once ----------------------

OPS = "ops@ourco.example.com"
OPENED = "[Save opened]"
"""The subject of the internal alert northwind's product-gap save sends on its first day."""


class RefusesTheAlert(SmtpSink):
    """A relay that refuses the save-opened alert for good (5xx) until an operator fixes it."""

    def __init__(self) -> None:
        super().__init__()
        self.refusing = True

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        subject = str(email.message_from_bytes(envelope.content)["Subject"])
        if self.refusing and subject.startswith(OPENED):
            return "550 5.7.1 recipient not on the relay's allow-list"
        return await super().handle_DATA(server, session, envelope)

    def alerts(self) -> list[Message]:
        return [m for m in self.messages if str(m["Subject"]).startswith(OPENED)]


@asynccontextmanager
async def _refusing_save(time_env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[tuple[Harness, Any]]:
    """northwind's save, whose first alert the relay refused: it needs attention (item a1)."""
    with smtp_server(RefusesTheAlert()) as relay:
        ops_settings = settings.model_copy(update={"smtp_port": relay.port, "ops_email": OPS})
        async with Harness.running(time_env, ops_settings, relay) as h:
            await h.start("northwind", TriggerKind.PRODUCT_GAP)
            await h.sleep(hours=2)
            yield h, relay


def _refused(state: SaveState) -> NeedsAttention:
    refused = [p for p in state.needs_attention if p.error == EMAIL_REFUSED]
    assert len(refused) == 1, state.needs_attention
    return refused[0]


async def test_an_operator_retries_a_refused_email_once_it_is_fixed_and_it_is_sent_once(
    time_env: WorkflowEnvironment, settings: Settings
) -> None:
    async with _refusing_save(time_env, settings) as (h, relay):
        item = _refused(await h.state("northwind"))
        assert item.id == "a1" and item.status is AttentionStatus.OPEN
        assert relay.alerts() == []
        details = await h.saves.details("northwind")
        assert "**Needs attention:** a1" in details and "saves attention list northwind" in details

        relay.refusing = False  # the operator got the relay fixed
        retried = await h.saves.resolve_attention(
            "northwind", ResolveAttention(item="a1", action=AttentionAction.RETRY, by="Olga Ops", reason="allow-listed")
        )
        assert retried.status is AttentionStatus.RESOLVED
        assert await _needs_attention_attribute(h, "northwind") == b"false"
        decision = retried.decisions[-1]
        assert (decision.by, decision.reason, decision.result, decision.succeeded) == (
            "Olga Ops",
            "allow-listed",
            "done",
            True,
        )
        assert len(relay.alerts()) == 1
        [row] = [e for e in await h.emails("northwind") if e.subject.startswith(OPENED)]
        assert row.status == "sent"

        # a second retry of the same item sends nothing more: the save refuses it
        with pytest.raises(SaveError, match="a1 was already retried by Olga Ops"):
            await h.saves.resolve_attention(
                "northwind", ResolveAttention(item="a1", action=AttentionAction.RETRY, by="Sam")
            )
        await h.sleep(days=3)
        assert len(relay.alerts()) == 1
        # operations were told exactly once about the item
        notices = relay.to(OPS)
        assert len(notices) == 1, [m["Subject"] for m in notices]
        assert "[Needs attention]" in str(notices[0]["Subject"])
        assert "saves attention retry northwind a1" in notices[0].get_payload()
        state = await h.state("northwind")
        assert "**Attention resolved:** a1" in await h.saves.details("northwind")
        story = [e.text for e in timeline(state, [], await h.now()) if e.kind == "attention"]
        assert any(t.startswith("Needs attention (a1)") for t in story), story
        assert any(t.startswith("Retried by Olga Ops (allow-listed) (a1)") and t.endswith("done") for t in story)
        # the run's history, with the operator's retry and the notice, replays with this workflow
        history = await h.client.get_workflow_handle(save_workflow_id("northwind")).fetch_history()
        await Replayer(workflows=[SaveWorkflow], data_converter=codec_keys.converter()).replay_workflow(history)


async def test_an_operator_skips_a_step_with_a_reason_and_the_save_goes_on(
    time_env: WorkflowEnvironment, settings: Settings
) -> None:
    async with _refusing_save(time_env, settings) as (h, relay):
        async with api_client(h) as api:
            no_reason = await api.post("/saves/northwind/attention/a1/skip", {"by": "Olga Ops"})
            assert no_reason.status_code == 422, no_reason.text
            assert [f["field"] for f in no_reason.json()["fields"]] == ["reason"]
            r = await api.post(
                "/saves/northwind/attention/a1/skip", {"by": "Olga Ops", "reason": "told the team by phone"}
            )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "skipped"
        assert await _needs_attention_attribute(h, "northwind") == b"false"
        assert r.json()["item"]["decisions"][-1]["reason"] == "told the team by phone"
        await h.sleep(days=3)
        state = await h.state("northwind")
        item = _refused(state)
        assert item.status is AttentionStatus.SKIPPED and item.decisions[-1].by == "Olga Ops"
        assert state.automated["escalate_to_product"].done_at is not None  # the save went on
        assert relay.alerts() == []  # skipped: never sent
        assert len(relay.to(OPS)) == 1
        story = [e.text for e in timeline(state, [], await h.now()) if e.kind == "attention"]
        assert any(t.startswith("Skipped by Olga Ops (a1)") and "told the team by phone" in t for t in story)


async def test_an_unknown_item_is_refused_clearly_by_the_cli_and_is_404_in_the_api(
    time_env: WorkflowEnvironment, settings: Settings
) -> None:
    async with _refusing_save(time_env, settings) as (h, _):
        async with api_client(h) as api:
            r = await api.post("/saves/northwind/attention/a9/retry", {"by": "Olga Ops"})
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "not_found"
        assert r.json()["message"] == "northwind's save has no item 'a9' needing attention; its items: a1"
        assert [f["field"] for f in r.json()["fields"]] == ["item"]

        address = time_env.client.service_client.config.target_host
        env = {"SAVES_TEMPORAL_ADDRESS": address, "SAVES_DATA_DIR": str(settings.data_dir)}
        cli = CliRunner()
        wrong = await asyncio.to_thread(
            cli.invoke, app, ["attention", "retry", "northwind", "a11", "--by", "Olga"], env=env
        )
        assert wrong.exit_code == 2, wrong.output
        assert "northwind's save has no item 'a11' needing attention; did you mean a1?" in wrong.output
        assert "item" + ":" not in wrong.output and "Value error" not in wrong.output
        listed = await asyncio.to_thread(cli.invoke, app, ["attention", "list", "northwind"], env=env)
        assert listed.exit_code == 0, listed.output
        assert "a1  open" in listed.output and "EmailRefused" in listed.output
        assert (await h.state("northwind")).needs_attention[0].decisions == []
