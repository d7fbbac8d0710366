"""Answers already given by the HTTP API, so a redelivered webhook gets the first answer again.

Kept in the SQL store, so a restart of the API (or a second API process) still recognises a
redelivery. A key is claimed before the request runs: a concurrent duplicate waits for nothing
and is told to retry, instead of running the action twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Integer, LargeBinary, String, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from activities.store.db import sessions
from activities.store.tables import Base

STALE_CLAIM = timedelta(minutes=2)
"""A claim older than this belongs to a request that died mid-way; a retry may take it over."""


class ApiRequest(Base):
    __tablename__ = "api_requests"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    content_type: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


@dataclass(frozen=True)
class Claim:
    """What the store says about a key: run the request, replay an answer, or refuse."""

    outcome: Literal["run", "replay", "in_progress", "mismatch"]
    status_code: int = 0
    body: bytes = b""
    content_type: str = "application/json"


class IdempotencyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions: async_sessionmaker[Any] = sessions(engine)
        self._ready = False
        self._lock = asyncio.Lock()

    async def _ensure_table(self) -> None:
        """Create the table on first use, so the API works on a store created before it existed."""
        async with self._lock:
            if not self._ready:
                async with self.engine.begin() as conn:
                    table = Base.metadata.tables[ApiRequest.__tablename__]
                    await conn.run_sync(Base.metadata.create_all, tables=[table])
                self._ready = True

    async def claim(self, key: str, fingerprint: str, now: datetime) -> Claim:
        await self._ensure_table()
        async with self._sessions() as session:
            session.add(ApiRequest(key=key, fingerprint=fingerprint, state="in_progress", claimed_at=now))
            try:
                await session.commit()
                return Claim("run")
            except IntegrityError:
                await session.rollback()
            row = await session.get(ApiRequest, key)
            if row is None:  # released between our insert and this read: try once more
                return await self.claim(key, fingerprint, now)
            if row.fingerprint != fingerprint:
                return Claim("mismatch")
            if row.state == "done":
                return Claim("replay", row.status_code or 200, row.body or b"",
                             row.content_type or "application/json")
            if now - row.claimed_at < STALE_CLAIM:
                return Claim("in_progress")
            taken = await session.execute(
                update(ApiRequest).where(ApiRequest.key == key, ApiRequest.claimed_at == row.claimed_at)
                .values(claimed_at=now))
            await session.commit()
            return Claim("run" if taken.rowcount else "in_progress")

    async def finish(self, key: str, status_code: int, body: bytes, content_type: str, now: datetime) -> None:
        async with self._sessions() as session:
            await session.execute(
                update(ApiRequest).where(ApiRequest.key == key)
                .values(state="done", status_code=status_code, body=body, content_type=content_type,
                        finished_at=now))
            await session.commit()

    async def release(self, key: str) -> None:
        """Forget a claim whose request failed, so a retry runs it again."""
        async with self._sessions() as session:
            await session.execute(delete(ApiRequest).where(ApiRequest.key == key,
                                                           ApiRequest.state == "in_progress"))
            await session.commit()

    async def forget_before(self, cutoff: datetime) -> int:
        """Drop answers older than ``cutoff`` (CRMs stop redelivering after a few days)."""
        async with self._sessions() as session:
            result = await session.execute(delete(ApiRequest).where(ApiRequest.claimed_at < cutoff))
            await session.commit()
            return int(result.rowcount or 0)

    async def keys(self) -> list[str]:
        async with self._sessions() as session:
            return list((await session.execute(select(ApiRequest.key))).scalars())
