"""Email failures are classified: an email the relay may have accepted is never resent by itself,
permanent failures are not retried, and a display name can never add or drop a recipient."""

from __future__ import annotations

import asyncio
import email
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email.policy import default as DEFAULT_POLICY
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

from activities.email_activities import EmailActivities
from activities.mailer import EmailRenderer, SmtpDelivery, SmtpSettings
from activities.store.db import sessions
from activities.store.outbox import Outgoing
from activities.store.tables import Contact
from tests.conftest import smtp_server
from tests.harness import SmtpSink
from worker.cli import app
from worker.demo import load_demo_crm
from worker.runtime.runner import Services, build_services
from worker.runtime.settings import Settings
from workflows.contracts import EmailRequest, SaveRef

SAVE = SaveRef(account_id="northwind", save_id="save-northwind", playbook_id="product_issue")
NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


class NeverAnswers(SmtpSink):
    """A relay that takes the whole message and does not answer the end of data until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received += 1
        await self.release.wait()
        return await super().handle_DATA(server, session, envelope)


class HangsUpAfterData(SmtpSink):
    """A relay that accepts the message, then drops the connection instead of answering."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await super().handle_DATA(server, session, envelope)
        server.transport.close()
        return "250 OK"


class Answers(SmtpSink):
    """A relay that answers the end of data with a fixed reply."""

    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return self.reply


def _settings(tmp_path: Path, port: int, timeout: float = 30.0) -> Settings:
    return Settings(
        data_dir=tmp_path / "saves",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout=timeout,
        email_from="Customer Success <cs@ourco.example.com>",
    )


async def _services(settings: Settings) -> Services:
    services = await build_services(settings)
    await load_demo_crm(services.engine)
    return services


def _request(key: str = "save-northwind/email/ack", template: str = "acknowledgment") -> EmailRequest:
    return EmailRequest(
        key=key, save=SAVE, template=template, to="customer", context={"save": {"next_steps": []}}, at=NOW
    )


async def _send(services: Services, request: EmailRequest) -> Any:
    return await ActivityEnvironment().run(services.email_activities.send_email, request)


@pytest.fixture
def never_answers() -> Iterator[NeverAnswers]:
    sink = NeverAnswers()
    with smtp_server(sink) as running:
        try:
            yield running
        finally:
            running.release.set()


@pytest.fixture
async def slow_relay(tmp_path: Path, never_answers: NeverAnswers) -> AsyncIterator[Services]:
    services = await _services(_settings(tmp_path, never_answers.port, timeout=0.5))
    try:
        yield services
    finally:
        await services.engine.dispose()


async def test_an_email_the_slow_relay_may_have_accepted_is_uncertain_and_never_resent(
    slow_relay: Services, never_answers: NeverAnswers
) -> None:
    for _ in range(3):  # the activity and two retries Temporal would make if it could
        with pytest.raises(ApplicationError) as raised:
            await _send(slow_relay, _request())
        assert raised.value.type == "EmailUncertain" and raised.value.non_retryable
    assert never_answers.received == 1  # the retries did not send it again
    (row,) = await slow_relay.outbox.emails("northwind")
    assert (row.status, row.attempts) == ("uncertain", 1)
    assert row.error and "answer" in row.error


async def test_a_relay_that_hangs_up_after_data_leaves_the_email_uncertain(tmp_path: Path) -> None:
    with smtp_server(HangsUpAfterData()) as relay:
        services = await _services(_settings(tmp_path, relay.port))
        try:
            with pytest.raises(ApplicationError) as raised:
                await _send(services, _request())
            with pytest.raises(ApplicationError):
                await _send(services, _request())
            (row,) = await services.outbox.emails("northwind")
        finally:
            await services.engine.dispose()
    assert raised.value.type == "EmailUncertain" and raised.value.non_retryable
    assert len(relay.messages) == 1 and row.status == "uncertain"


async def test_an_operators_retry_of_the_step_sends_the_email_once_more_once_per_retry(tmp_path: Path) -> None:
    with smtp_server(HangsUpAfterData()) as relay:
        services = await _services(_settings(tmp_path, relay.port))
        try:
            with pytest.raises(ApplicationError):
                await _send(services, _request())  # uncertain
            first = _request().model_copy(update={"resend": "a1/retry/1"})
            for _ in range(2):  # the retry, and the same retry's attempt repeated by Temporal
                with pytest.raises(ApplicationError) as raised:
                    await _send(services, first)
                assert raised.value.type == "EmailUncertain"
            assert len(relay.messages) == 2  # the retry sent it once more, its repeat did not
            with smtp_server(SmtpSink()) as good:
                services.email_activities.delivery = SmtpDelivery(_smtp(tmp_path, good.port))
                second = _request().model_copy(update={"resend": "a1/retry/2"})
                receipts = [await _send(services, second), await _send(services, second)]
                plain = await _send(services, _request())
            (row,) = await services.outbox.emails("northwind")
        finally:
            await services.engine.dispose()
    assert [r.status for r in receipts] == ["sent", "sent"] and plain.status == "sent"
    assert len(good.messages) == 1
    assert (row.status, row.attempts, row.resend_token) == ("sent", 3, "a1/retry/2")


def _smtp(tmp_path: Path, port: int) -> SmtpSettings:
    smtp = _settings(tmp_path, port).smtp
    assert smtp is not None
    return smtp


def test_only_an_operator_resends_an_uncertain_email(tmp_path: Path) -> None:
    async def lose_an_answer(port: int) -> None:
        services = await _services(_settings(tmp_path, port))
        try:
            with pytest.raises(ApplicationError):
                await _send(services, _request())
        finally:
            await services.engine.dispose()

    with smtp_server(HangsUpAfterData()) as relay:
        asyncio.run(lose_an_answer(relay.port))
    settings = _settings(tmp_path, 0)
    runner = CliRunner()
    env = {"SAVES_DATA_DIR": str(settings.data_dir), "COLUMNS": "200"}
    listed = runner.invoke(app, ["crm", "outbox"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "uncertain" in listed.output
    with smtp_server(SmtpSink()) as good:
        with_relay = {**env, "SAVES_SMTP_HOST": "127.0.0.1", "SAVES_SMTP_PORT": str(good.port)}
        resent = runner.invoke(app, ["crm", "outbox", "resend", "1"], env=with_relay)
        again = runner.invoke(app, ["crm", "outbox", "resend", "1"], env=with_relay)
        unknown = runner.invoke(app, ["crm", "outbox", "resend", "99"], env=with_relay)
        listed_after = runner.invoke(app, ["crm", "outbox", "--account", "northwind"], env=env)
    assert resent.exit_code == 0, resent.output
    assert "sent" in resent.output
    assert len(good.messages) == 1
    assert again.exit_code != 0 and "is sent" in again.output  # never twice by mistake
    assert unknown.exit_code != 0 and "no email 99" in unknown.output
    assert " sent " in listed_after.output and "uncertain" not in listed_after.output


@pytest.mark.parametrize(
    ("reply", "status", "kind", "retryable"),
    [
        ("554 5.7.1 rejected as spam", "failed", "EmailRefused", False),
        ("451 4.3.0 try again later", "pending", None, True),
    ],
)
async def test_a_clear_answer_after_data_is_permanent_or_retried(
    tmp_path: Path, reply: str, status: str, kind: str | None, retryable: bool
) -> None:
    with smtp_server(Answers(reply)) as relay:
        services = await _services(_settings(tmp_path, relay.port))
        try:
            with pytest.raises(Exception) as raised:
                await _send(services, _request())
            (row,) = await services.outbox.emails("northwind")
        finally:
            await services.engine.dispose()
    assert row.status == status
    error = raised.value
    if retryable:
        assert not (isinstance(error, ApplicationError) and error.non_retryable)
    else:
        assert isinstance(error, ApplicationError) and error.type == kind and error.non_retryable


async def test_a_refused_connection_is_retried(tmp_path: Path) -> None:
    from worker.devtools.servers import free_port

    services = await _services(_settings(tmp_path, free_port()))
    try:
        with pytest.raises(Exception) as raised:
            await _send(services, _request())
        (row,) = await services.outbox.emails("northwind")
    finally:
        await services.engine.dispose()
    assert isinstance(raised.value, OSError), raised.value  # transient: Temporal retries with backoff
    assert row.status == "pending"


async def _primary_named(services: Services, name: str) -> None:
    async with sessions(services.engine)() as session:
        await session.execute(
            update(Contact).where(Contact.account_id == "northwind", Contact.primary.is_(True)).values(name=name)
        )
        await session.commit()


@pytest.mark.parametrize("name", ["Zoë, attacker@evil.example", 'Zoë "the boss", <attacker@evil.example>'])
async def test_a_display_name_can_never_add_or_drop_a_recipient(tmp_path: Path, smtp: SmtpSink, name: str) -> None:
    services = await _services(_settings(tmp_path, smtp.port))
    try:
        await _primary_named(services, name)
        receipt = await _send(services, _request())
    finally:
        await services.engine.dispose()
    (message,) = smtp.messages
    parsed = email.message_from_bytes(message.as_bytes(), policy=DEFAULT_POLICY)
    (to,) = parsed["To"].addresses
    assert to.addr_spec == receipt.to_address and "evil" not in to.addr_spec
    assert to.display_name == name


async def test_a_name_with_a_line_break_cannot_add_a_header(tmp_path: Path, smtp: SmtpSink) -> None:
    services = await _services(_settings(tmp_path, smtp.port))
    try:
        await _primary_named(services, "Priya\r\nBcc: attacker@evil.example")
        await _send(services, _request())
    finally:
        await services.engine.dispose()
    (message,) = smtp.messages
    parsed = email.message_from_bytes(message.as_bytes(), policy=DEFAULT_POLICY)
    assert parsed["Bcc"] is None
    (to,) = parsed["To"].addresses
    assert to.display_name == "Priya Bcc: attacker@evil.example" and "evil" not in to.addr_spec


async def test_a_broken_template_fails_once_with_a_clear_error(tmp_path: Path, smtp: SmtpSink) -> None:
    templates = tmp_path / "playbooks" / "templates"
    templates.mkdir(parents=True)
    (templates / "no_subject.j2").write_text("{% block body %}Hello{% endblock %}\n")
    (templates / "syntax.j2").write_text("{% block subject %}Hi{% endblock %}{% block body %}{{ x {% endblock %}\n")
    services = await _services(_settings(tmp_path, smtp.port))
    services.email_activities.renderer = EmailRenderer(templates)
    try:
        errors = []
        for template in ("no_subject", "syntax"):
            with pytest.raises(ApplicationError) as raised:
                await _send(services, _request(key=f"k-{template}", template=template))
            errors.append(raised.value)
    finally:
        await services.engine.dispose()
    assert all(e.type == "EmailUnusable" and e.non_retryable for e in errors)
    assert "no {% block subject %}" in errors[0].message and "syntax.j2" in errors[1].message
    assert smtp.messages == []


async def test_an_interrupted_delivery_after_the_claim_is_uncertain(tmp_path: Path) -> None:
    """Whatever interrupts a delivery after the claim (here: the worker's task cancelled)."""
    services = await _services(_settings(tmp_path, 0))

    async def claim_then_cancelled(message: Outgoing, claim: Any) -> None:
        assert await claim()
        raise asyncio.CancelledError

    email_ = Outgoing("k-1", "northwind", "save-1", "acknowledgment", "customer", "a@b.example", "A", "S", "B\n")
    try:
        with pytest.raises(asyncio.CancelledError):
            await services.outbox.send_once(email_, NOW, claim_then_cancelled)
        (row,) = await services.outbox.emails("northwind")
    finally:
        await services.engine.dispose()
    assert row.status == "uncertain"


def test_the_relay_timeout_is_a_setting() -> None:
    settings = Settings(smtp_host="relay.example", smtp_timeout=7.5)
    assert settings.smtp is not None and settings.smtp.timeout == 7.5
    assert SmtpDelivery(settings.smtp).settings.timeout == 7.5
    assert SmtpSettings(host="x").timeout == 30.0
    assert isinstance(EmailActivities, type)
