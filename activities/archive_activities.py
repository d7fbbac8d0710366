"""The archive activity: when a save ends, keep its post-mortem and its history in the SQL store.

A workflow cannot read its own history, an activity can: it gets the worker's Temporal client.
The engine hands over its final state; the activity fetches every run of the save (the one
still running up to this very activity), builds the post-mortem and stores both. Writing the
same save twice replaces the row, so a retried activity is harmless.
"""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity

from activities.logs import activity_log
from activities.save_history import fetch_save_runs, postmortem_of
from activities.store.archive import Archive
from workflows.postmortem import ARCHIVE_ACTIVITY, ArchiveRequest


class ArchiveActivities:
    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    @activity.defn(name=ARCHIVE_ACTIVITY)
    async def archive_save(self, request: ArchiveRequest) -> int:
        info = activity.info()
        runs = await fetch_save_runs(activity.client(), info.workflow_id or "", info.workflow_run_id)
        now = datetime.now(UTC)
        record = postmortem_of(runs, now, final=request)
        size = await self.archive.put(record, [r.history for r in runs if r.history is not None], now)
        activity_log().info(
            "save archived",
            save_id=record.save_id,
            runs=len(runs),
            history_bytes=size,
            outcome=record.figures.outcome.value,
        )
        return size
