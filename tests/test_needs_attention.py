"""A step that can never succeed is recorded on the save as needing attention; the save goes on."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.email_activities import EMAIL_UNCERTAIN, EmailActivities
from playbook_defs.vocabulary import TriggerKind
from tests.harness import Harness, SmtpSink
from worker.runtime.runner import Services
from worker.runtime.settings import Settings
from workflows.contracts import ActivityName, EmailReceipt, EmailRequest
from workflows.ids import save_workflow_id


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
