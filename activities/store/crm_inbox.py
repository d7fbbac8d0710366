"""CRM webhook events as received, kept until processed: the endpoint records and answers at once
(a CRM retries a slow webhook), and turning them into inbound events happens later, with the
CRM's API at hand. The CRM's event id is unique per CRM, so a redelivery is recorded once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.store.db import sessions
from activities.store.tables import CrmInbox


async def record(engine: AsyncEngine, rows: Sequence[dict[str, Any]]) -> int:
    """Insert webhook events (``CrmInbox`` columns); returns how many were new."""
    if not rows:
        return 0
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(CrmInbox).values(list(rows)).on_conflict_do_nothing(index_elements=["crm", "event_id"])
    async with sessions(engine)() as session, session.begin():
        result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


async def pending(engine: AsyncEngine, crm: str, limit: int = 500) -> list[CrmInbox]:
    """Events not processed yet, oldest first."""
    async with sessions(engine)() as session:
        query = (
            select(CrmInbox)
            .where(CrmInbox.crm == crm, CrmInbox.processed_at.is_(None))
            .order_by(CrmInbox.occurred_at, CrmInbox.id)
            .limit(limit)
        )
        return list((await session.execute(query)).scalars())


async def mark_processed(engine: AsyncEngine, ids: Sequence[int], at: datetime) -> None:
    if not ids:
        return
    async with sessions(engine)() as session, session.begin():
        await session.execute(update(CrmInbox).where(CrmInbox.id.in_(list(ids))).values(processed_at=at))
