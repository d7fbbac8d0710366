"""The email outbox: every email a save sends is a row, and a key is sent at most once.

A row is claimed (``pending`` to ``sending``) in one atomic update, so a retried or duplicated
activity attempt finds the row claimed or sent and does not send again. The delivery claims it
itself, at the last moment: after the SMTP server has taken the envelope and the content, just
before the end-of-data mark that makes the server accept the message. A worker that dies before
that point (while connecting, or mid-conversation) has claimed nothing, so the retry on another
worker sends the email; if sending fails the claim is released and the retry sends. Only a crash
in the instant between the claim and the server's acceptance, or between acceptance and the
``sent`` commit, leaves a row ``sending``; such rows are reported, never resent. Each message
carries a Message-ID derived from the key for the same reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from activities.store.db import sessions
from activities.store.tables import OutboxEmail

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
        self._sessions: async_sessionmaker[Any] = sessions(engine)

    async def send_once(self, email: Outgoing, at: datetime, deliver: Deliver | None) -> str:
        """Record ``email`` and deliver it unless its key was already delivered; returns the status.

        Statuses: ``sent`` (delivered by SMTP), ``recorded`` (no SMTP configured, kept here),
        ``undeliverable`` (no address for the recipient), ``sending`` (an earlier attempt
        was interrupted mid-send; not resent).
        """
        async with self._sessions() as session:
            row = (await session.execute(select(OutboxEmail).where(OutboxEmail.key == email.key))).scalar_one_or_none()
            if row is None:
                session.add(
                    OutboxEmail(
                        key=email.key,
                        account_id=email.account_id,
                        save_id=email.save_id,
                        template=email.template,
                        recipient=email.recipient,
                        to_address=email.to_address,
                        to_name=email.to_name,
                        subject=email.subject,
                        body=email.body,
                        status="pending",
                        message_id=email.message_id,
                        attempts=0,
                        created_at=at,
                    )
                )
                try:
                    await session.commit()
                except IntegrityError:
                    await session.rollback()
            if email.to_address is None:
                return await self._finish(session, email.key, "pending", "undeliverable", None)
            if deliver is None:
                return await self._finish(session, email.key, "pending", "recorded", None)
            if await self._status(session, email.key) != "pending":
                return await self._status(session, email.key)  # sent or claimed by an earlier attempt
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
            except Exception as exc:
                if claimed:
                    await session.execute(
                        update(OutboxEmail)
                        .where(OutboxEmail.key == email.key)
                        .values(status="pending", error=str(exc)[:2000])
                    )
                    await session.commit()
                raise
            if not claimed:
                return await self._status(session, email.key)
            return await self._finish(session, email.key, "sending", "sent", at)

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

    async def emails(self, account_id: str | None = None) -> list[OutboxEmail]:
        async with self._sessions() as session:
            query = select(OutboxEmail).order_by(OutboxEmail.id)
            if account_id is not None:
                query = query.where(OutboxEmail.account_id == account_id)
            return list((await session.execute(query)).scalars())
