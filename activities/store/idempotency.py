"""Answers already given by the HTTP API, so a redelivered webhook gets the first answer again.

Kept in the SQL store, so a restart of the API (or a second API process) still recognises a
redelivery. A key is claimed before the request runs: a concurrent duplicate waits for nothing
and is told to retry, instead of running the action twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from activities.store.db import sessions
from activities.store.tables import ApiRequest

STALE_CLAIM = timedelta(minutes=2)
"""A claim older than this belongs to a request that died mid-way; a retry may take it over."""


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

    async def claim(self, key: str, fingerprint: str, now: datetime) -> Claim:
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
                return Claim("replay", row.status_code or 200, row.body or b"", row.content_type or "application/json")
            if now - row.claimed_at < STALE_CLAIM:
                return Claim("in_progress")
            taken = await session.execute(
                update(ApiRequest)
                .where(ApiRequest.key == key, ApiRequest.claimed_at == row.claimed_at)
                .values(claimed_at=now)
            )
            await session.commit()
            return Claim("run" if taken.rowcount else "in_progress")

    async def claim_all(self, keys: list[tuple[str, str]], now: datetime) -> tuple[list[str], tuple[str, Claim] | None]:
        """Claim every ``(key, fingerprint)``: the keys claimed, or none and the key that was refused
        with what to answer.

        The usual case (every key new) is one transaction; a key already known falls back to
        claiming one at a time, which says what to answer (replay, in progress, mismatch)."""
        async with self._sessions() as session:
            session.add_all(ApiRequest(key=k, fingerprint=f, state="in_progress", claimed_at=now) for k, f in keys)
            try:
                await session.commit()
                return [k for k, _ in keys], None
            except IntegrityError:
                await session.rollback()
        claimed: list[str] = []
        for key, fingerprint in keys:
            claim = await self.claim(key, fingerprint, now)
            if claim.outcome != "run":
                await self.release_all(claimed)
                return [], (key, claim)
            claimed.append(key)
        return claimed, None

    async def finish_all(
        self, keys: list[str], status_code: int, body: bytes, content_type: str, now: datetime
    ) -> None:
        """Store the answer under every key, in one transaction, before it is sent."""
        async with self._sessions() as session:
            await session.execute(
                update(ApiRequest)
                .where(ApiRequest.key.in_(keys))
                .values(state="done", status_code=status_code, body=body, content_type=content_type, finished_at=now)
            )
            await session.commit()

    async def release_all(self, keys: list[str]) -> None:
        async with self._sessions() as session:
            await session.execute(delete(ApiRequest).where(ApiRequest.key.in_(keys), ApiRequest.state == "in_progress"))
            await session.commit()

    async def finish(self, key: str, status_code: int, body: bytes, content_type: str, now: datetime) -> None:
        async with self._sessions() as session:
            await session.execute(
                update(ApiRequest)
                .where(ApiRequest.key == key)
                .values(state="done", status_code=status_code, body=body, content_type=content_type, finished_at=now)
            )
            await session.commit()

    async def release(self, key: str) -> None:
        """Forget a claim whose request failed, so a retry runs it again."""
        async with self._sessions() as session:
            await session.execute(delete(ApiRequest).where(ApiRequest.key == key, ApiRequest.state == "in_progress"))
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
