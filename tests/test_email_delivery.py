"""Emails reach a real SMTP server exactly once, even when the email activity is retried."""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from activities.email_activities import EmailActivities
from playbook_defs.vocabulary import TriggerKind
from tests.conftest import smtp_server
from tests.harness import Harness, SmtpSink
from worker.runtime.runner import Services
from worker.runtime.settings import Settings
from workflows.contracts import EmailReceipt, EmailRequest


class LostAfterSending(EmailActivities):
    """The SMTP server accepts the message, then the worker dies before reporting success."""

    lost: ClassVar[Counter[str]] = Counter()

    @activity.defn(name="send_email")
    async def send_email(self, request: EmailRequest) -> EmailReceipt:
        receipt = await super().send_email(request)
        if activity.info().attempt == 1:
            LostAfterSending.lost[request.key] += 1
            raise RuntimeError("worker lost after the SMTP server accepted the message")
        return receipt


class RefusesFirstDelivery(SmtpSink):
    """An SMTP server that answers its first message with a temporary failure."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.refused:
            self.refused += 1
            return "451 4.3.0 try again later"
        return await super().handle_DATA(server, session, envelope)


def _with_flaky_email(services: Services) -> list[Any]:
    e = services.email_activities
    flaky = LostAfterSending(e.crm, e.outbox, e.renderer, e.delivery)
    return [flaky.send_email if getattr(a, "__name__", "") == "send_email" else a for a in services.activities()]


async def _assert_each_email_delivered_once(h: Harness, account: str) -> None:
    rows = await h.emails(account)
    assert rows and all(r.status == "sent" for r in rows)
    delivered = Counter(str(m["Message-ID"]) for m in h.smtp.messages)
    assert sorted(delivered) == sorted(r.message_id for r in rows)
    assert set(delivered.values()) == {1}, delivered


async def test_a_retried_email_activity_never_sends_twice(
    time_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink
) -> None:
    async with Harness.running(time_env, settings, smtp, activities=_with_flaky_email) as h:
        await h.start("northwind", TriggerKind.PRODUCT_GAP)
        await h.sleep(minutes=10)
        state = await h.state("northwind")
        assert {"alert_internal", "escalate_to_product"} <= {k for k, a in state.automated.items() if a.done_at}
        rows = await h.emails("northwind")
        assert {r.template for r in rows} >= {"internal_alert", "product_escalation"}
        assert all(LostAfterSending.lost[r.key] == 1 for r in rows)  # every email's first attempt was lost
        assert all(r.attempts == 1 for r in rows)  # the retry found the row sent and did not resend
        await _assert_each_email_delivered_once(h, "northwind")


async def test_a_temporary_smtp_failure_is_retried_and_delivered_once(
    time_env: WorkflowEnvironment, settings: Settings
) -> None:
    with smtp_server(RefusesFirstDelivery()) as refusing:
        settings = settings.model_copy(update={"smtp_port": refusing.port})
        async with Harness.running(time_env, settings, refusing) as h:
            await h.start("northwind", TriggerKind.PRODUCT_GAP)
            await h.sleep(minutes=10)
            assert refusing.refused == 1
            rows = await h.emails("northwind")
            assert max(r.attempts for r in rows) == 2
            await _assert_each_email_delivered_once(h, "northwind")
