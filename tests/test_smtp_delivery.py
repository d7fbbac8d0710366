"""SMTP delivery claims the outbox row at the last moment, and sends nothing when it may not."""

from __future__ import annotations

from activities.mailer import SmtpDelivery, SmtpSettings
from activities.store.outbox import Outgoing
from tests.harness import SmtpSink

EMAIL = Outgoing(
    key="save-1/email/ack",
    account_id="northwind",
    save_id="save-1",
    template="acknowledgment",
    recipient="customer",
    to_address="priya@northwind.example",
    to_name="Priya Nair",
    subject="We hear you",
    body="Line one\n.\n.. a line that starts with dots\nLast line\n",
)


async def test_a_refused_claim_sends_nothing(smtp: SmtpSink) -> None:
    asked: list[bool] = []

    async def refused() -> bool:
        asked.append(False)
        return False

    await SmtpDelivery(SmtpSettings(host="127.0.0.1", port=smtp.port))(EMAIL, refused)
    assert asked == [False]  # the server had the content when the claim was asked for
    assert smtp.messages == []


async def test_a_granted_claim_delivers_the_message_intact(smtp: SmtpSink) -> None:
    async def granted() -> bool:
        return True

    await SmtpDelivery(
        SmtpSettings(host="127.0.0.1", port=smtp.port, sender="Customer Success <cs@ourco.example.com>")
    )(EMAIL, granted)
    (message,) = smtp.messages
    assert message["Subject"] == "We hear you" and "priya@northwind.example" in str(message["To"])
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes) and payload.decode().replace("\r\n", "\n") == EMAIL.body
