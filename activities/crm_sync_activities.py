"""The CRM reconciler's activities: read what people did in the CRM since the stored cursor, and
move the cursor once the events are delivered (so a crash in between reads them again; their
keys make the repeat harmless)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.crm import CrmAdapter
from activities.crm_errors import rejections_fail_fast
from activities.hubspot.crm import HubSpotCrm
from activities.hubspot.inbound import HubSpotInbound, process_webhooks
from activities.store.db import sessions
from activities.store.tables import CrmSyncCursor
from workflows.contracts import ChangesPage


class CrmSyncActivities:
    def __init__(self, crm: CrmAdapter, engine: AsyncEngine, crm_name: str) -> None:
        self.crm = crm
        self.engine = engine
        self.crm_name = crm_name

    async def _cursor(self) -> str | None:
        async with sessions(self.engine)() as session:
            row = await session.get(CrmSyncCursor, self.crm_name)
            return row.cursor if row else None

    @activity.defn(name="read_crm_changes")
    async def read_changes(self) -> ChangesPage:
        """Changes since the stored cursor; for HubSpot, also the webhooks recorded meanwhile."""
        with rejections_fail_fast():
            page = await self.crm.changes_since(await self._cursor())
            if isinstance(self.crm, HubSpotCrm):
                seen = {e.key for e in page.events}
                hooked = [e for e in await process_webhooks(HubSpotInbound(self.crm), self.engine) if e.key not in seen]
                page = page.model_copy(update={"events": sorted([*page.events, *hooked], key=lambda e: (e.at, e.key))})
            activity.logger.info("crm changes read", extra={"events": len(page.events), "crm": self.crm_name})
            return page

    @activity.defn(name="commit_crm_cursor")
    async def commit_cursor(self, cursor: str) -> None:
        async with sessions(self.engine)() as session, session.begin():
            row = await session.get(CrmSyncCursor, self.crm_name)
            if row is None:
                session.add(CrmSyncCursor(crm=self.crm_name, cursor=cursor, updated_at=datetime.now(UTC)))
            else:
                row.cursor, row.updated_at = cursor, datetime.now(UTC)
