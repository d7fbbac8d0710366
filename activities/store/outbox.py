"""The email outbox: every email a save sends is a row, and a key is sent at most once.

A row is claimed (``pending`` to ``sending``) in one atomic update, so a retried or duplicated
activity attempt finds the row claimed or sent and does not send again. The delivery claims it
itself, at the last moment: after the SMTP server has taken the envelope and the content, just
before the end-of-data mark that makes the server accept the message. A worker that dies before
that point (while connecting, or mid-conversation) has claimed nothing, so the retry on another
worker sends the email. After the claim the relay has the whole message: if it then refuses it
outright (5xx) the row is ``failed``; if it asks to try later (4xx) the claim is released and the
retry sends; if its answer never comes (a timeout, a dropped connection) nobody can tell whether
it accepted the message, so the row is ``uncertain`` and is never resent by itself, only by an
operator (``saves crm outbox resend ID``). A crash between the claim and the ``sent`` commit
leaves a row ``sending``, treated the same way. Each message carries a Message-ID derived from
the key, so a receiving system can drop a duplicate an operator chose to resend.
"""

from __future__ import annotations

import hashlib
import smtplib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from activities.store.db import sessions
from activities.store.tables import OutboxEmail

OUTCOME_UNKNOWN = frozenset({"uncertain", "sending"})
"""Statuses of an email the relay may or may not have accepted: resent only by an operator."""
RESENDABLE = OUTCOME_UNKNOWN | {"failed"}


class EmailUncertain(Exception):
    """The relay had the whole message but its answer never came: it may have been delivered."""


class EmailRefused(Exception):
    """The relay refused the email for good (a 5xx answer): retrying cannot help."""


Claim = Callable[[], Coroutine[Any, Any, bool]]
"""Claims the outbox row for this attempt; False when another attempt has claimed or sent it."""
Deliver = Callable[["Outgoing", Claim], Awaitable[None]]
"""Sends the email, calling ``claim`` right before the point of no return, and abandoning the
message without sending it when the claim is refused."""


@dataclass(frozen=True)
class Outgoing:
    key: str
    account_id: str
    save_id: str
    template: str
    recipient: str
    to_address: str | None
    to_name: str | None
    subject: str
    body: str

    @property
    def message_id(self) -> str:
        return f"<{hashlib.sha256(self.key.encode()).hexdigest()[:32]}@save-playbooks>"


class Outbox:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions: async_sessionmaker[Any] = sessions(engine)

    async def send_once(self, email: Outgoing, at: datetime, deliver: Deliver | None, resend: str | None = None) -> str:
        """Record ``email`` and deliver it unless its key was already delivered; returns the status.

        ``resend`` is an operator's retry of a save's step: a row that is ``failed``, ``uncertain``
        or ``sending`` goes back to ``pending`` and is sent again, once per distinct ``resend``
        (an attempt of the same retry repeated by Temporal finds the token taken and sends nothing more).

        Statuses: ``sent`` (delivered by SMTP), ``recorded`` (no SMTP configured, kept here),
        ``undeliverable`` (no address for the recipient), ``uncertain`` or ``sending`` (an
        earlier attempt lost the relay's answer, or was interrupted, after the message was sent;
        not resent), ``failed`` (the relay refused it for good). Raises :class:`EmailUncertain`
        or :class:`EmailRefused` when this attempt ends the email in one of the last two states.
        """
        kept = "undeliverable" if email.to_address is None else "recorded" if deliver is None else None
        if kept is not None and resend is None:
            return await self._keep(email, at, kept)
        async with self._sessions() as session:
            row = (await session.execute(select(OutboxEmail).where(OutboxEmail.key == email.key))).scalar_one_or_none()
            written = False
            if row is None:
                session.add(OutboxEmail(**_row(email, at, "pending")))
                try:
                    await session.commit()
                    written = True
                except IntegrityError:
                    await session.rollback()
            elif resend is not None:
                await session.execute(
                    update(OutboxEmail)
                    .where(
                        OutboxEmail.key == email.key,
                        OutboxEmail.status.in_(RESENDABLE),
                        or_(OutboxEmail.resend_token.is_(None), OutboxEmail.resend_token != resend),
                    )
                    .values(status="pending", resend_token=resend)
                )
                await session.commit()
            if email.to_address is None:
                return await self._finish(session, email.key, "pending", "undeliverable", None)
            if deliver is None:
                return await self._finish(session, email.key, "pending", "recorded", None)
            status = "pending" if written else await self._status(session, email.key)
            if status != "pending":
                return status  # sent or claimed by an earlier attempt
            claimed = False

            async def claim() -> bool:
                nonlocal claimed
                result = await session.execute(
                    update(OutboxEmail)
                    .where(OutboxEmail.key == email.key, OutboxEmail.status == "pending")
                    .values(status="sending", attempts=OutboxEmail.attempts + 1)
                )
                await session.commit()
                claimed = bool(result.rowcount)
                return claimed

            try:
                await deliver(email, claim)
            except BaseException as exc:
                if claimed:
                    # Only a clear "try later" from the relay puts the email back; anything else
                    # after the claim may have been delivered, so it waits for an operator.
                    if isinstance(exc, EmailRefused):
                        status = "failed"
                    elif isinstance(exc, smtplib.SMTPResponseException) and 400 <= exc.smtp_code < 500:
                        status = "pending"
                    else:
                        status = "uncertain"
                    await session.execute(
                        update(OutboxEmail)
                        .where(OutboxEmail.key == email.key)
                        .values(status=status, error=(str(exc) or repr(exc))[:2000])
                    )
                    await session.commit()
                    if status == "uncertain" and isinstance(exc, Exception) and not isinstance(exc, EmailUncertain):
                        raise EmailUncertain(f"interrupted after the message was sent: {exc!r}") from exc
                raise
            if not claimed:
                return await self._status(session, email.key)
            return await self._finish(session, email.key, "sending", "sent", at)

    async def _keep(self, email: Outgoing, at: datetime, status: str) -> str:
        """An email that is not sent (``recorded``: no SMTP configured; ``undeliverable``: no address),
        written with its final status in one statement. A key already written keeps its row; one an
        earlier attempt left ``pending`` takes ``status``."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(OutboxEmail).values(_row(email, at, status)))
            return status
        except IntegrityError:  # written by an earlier attempt
            pass
        async with self._sessions() as session:
            return await self._finish(session, email.key, "pending", status, None)

    @staticmethod
    async def _status(session: Any, key: str) -> str:
        return str((await session.execute(select(OutboxEmail.status).where(OutboxEmail.key == key))).scalar_one())

    @staticmethod
    async def _finish(session: Any, key: str, claimed: str, status: str, sent_at: datetime | None) -> str:
        """Move the row from ``claimed`` to ``status``; returns the status the row ends in."""
        await session.execute(
            update(OutboxEmail)
            .where(OutboxEmail.key == key, OutboxEmail.status == claimed)
            .values(status=status, sent_at=sent_at, error=None)
        )
        await session.commit()
        return str((await session.execute(select(OutboxEmail.status).where(OutboxEmail.key == key))).scalar_one())

    async def resend(self, email_id: int, deliver: Deliver) -> str:
        """An operator's decision to send an ``uncertain``, ``sending`` or ``failed`` email again.

        The row goes back to ``pending`` (only from one of those states, in one update) and is
        delivered as any email is; returns the status it ends in. KeyError for an unknown id,
        ValueError for a row in another state.
        """
        async with self._sessions() as session:
            row = await session.get(OutboxEmail, email_id)
            if row is None:
                raise KeyError(f"no email {email_id} in the outbox")
            if row.status not in RESENDABLE:
                raise ValueError(f"email {email_id} is {row.status}; only {', '.join(sorted(RESENDABLE))} are resent")
            await session.execute(
                update(OutboxEmail)
                .where(OutboxEmail.id == email_id, OutboxEmail.status == row.status)
                .values(status="pending")
            )
            await session.commit()
            email = Outgoing(
                key=row.key,
                account_id=row.account_id,
                save_id=row.save_id,
                template=row.template,
                recipient=row.recipient,
                to_address=row.to_address,
                to_name=row.to_name,
                subject=row.subject,
                body=row.body,
            )
        return await self.send_once(email, datetime.now(UTC), deliver)

    async def emails(self, account_id: str | None = None) -> list[OutboxEmail]:
        async with self._sessions() as session:
            query = select(OutboxEmail).order_by(OutboxEmail.id)
            if account_id is not None:
                query = query.where(OutboxEmail.account_id == account_id)
            return list((await session.execute(query)).scalars())


def _row(email: Outgoing, at: datetime, status: str) -> dict[str, Any]:
    """The outbox row of ``email``, first written at ``at`` in ``status``."""
    return {
        "key": email.key,
        "account_id": email.account_id,
        "save_id": email.save_id,
        "template": email.template,
        "recipient": email.recipient,
        "to_address": email.to_address,
        "to_name": email.to_name,
        "subject": email.subject,
        "body": email.body,
        "status": status,
        "message_id": email.message_id,
        "attempts": 0,
        "created_at": at,
    }
