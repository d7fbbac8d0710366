"""A step that can never succeed is recorded on the save as needing attention; the save goes on."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.email_activities import EMAIL_UNCERTAIN, EmailActivities
from playbook_defs.loader import load_playbooks
from playbook_defs.vocabulary import TriggerKind
from tests import codec_keys
from tests.harness import Harness, SmtpSink
from tests.replay_changed import SaveBeforeTheAttribute, SaveWithTheAttributeUnpatched
from worker.demo import load_demo_crm
from worker.runtime.runner import Services, build_services
from worker.runtime.save_client import SaveClient
from worker.runtime.settings import Settings
from workflows import search_attributes as sa
from workflows.contracts import ActivityName, EmailReceipt, EmailRequest
from workflows.ids import save_workflow_id
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
