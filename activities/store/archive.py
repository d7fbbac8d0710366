"""The save archive: every ended save's post-mortem and its compressed Temporal history.

Temporal keeps a closed workflow's history only for the namespace's retention period (days);
a save program is reviewed over months. The archive keeps both the post-mortem record (what
``saves report`` reads) and the raw history, so it can still be replayed or re-read by a future
version of the post-mortem.

A history is stored as Temporal's own protobuf encoding, zlib-compressed, behind a short header
(:data:`PROTOBUF_HISTORY`); turning each event into JSON cost a save a few per cent of its worker's
CPU for a form nobody reads until a post-mortem asks. Rows written before that hold zlib-compressed
JSON; :func:`read_histories` reads both.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory

from activities.store.db import sessions
from activities.store.tables import ArchivedSave
from workflows.postmortem import PostMortem

PROTOBUF_HISTORY = b"SAVEHIST-PB1\n"
"""Starts a history stored as protobuf. A zlib stream (the JSON rows) never starts with ``S``."""


def pack_histories(histories: Sequence[WorkflowHistory]) -> bytes:
    """The runs' histories as stored: a header line, then zlib of the workflow id and each run's
    ``History`` protobuf, every part preceded by its length (4 bytes, big-endian)."""
    workflow_id = histories[0].workflow_id if histories else ""
    parts = [workflow_id.encode(), *(History(events=h.events).SerializeToString() for h in histories)]
    framed = b"".join(struct.pack(">I", len(part)) + part for part in parts)
    return PROTOBUF_HISTORY + zlib.compress(framed, level=6)


def unpack_histories(blob: bytes) -> list[WorkflowHistory]:
    """The runs' histories from :func:`pack_histories`' bytes."""
    framed = zlib.decompress(blob[len(PROTOBUF_HISTORY) :])
    parts, at = [], 0
    while at < len(framed):
        (size,) = struct.unpack_from(">I", framed, at)
        parts.append(framed[at + 4 : at + 4 + size])
        at += 4 + size
    workflow_id = parts[0].decode() if parts else ""
    return [WorkflowHistory(workflow_id, list(History.FromString(part).events)) for part in parts[1:]]


def read_histories(blob: bytes) -> list[WorkflowHistory]:
    """The runs' histories of a stored history, whichever form it was stored in."""
    if blob.startswith(PROTOBUF_HISTORY):
        return unpack_histories(blob)
    document = json.loads(zlib.decompress(blob))  # a row from before the protobuf form
    return [WorkflowHistory.from_json(document["workflow_id"], run) for run in document["runs"]]


def history_document(histories: Sequence[WorkflowHistory]) -> dict[str, Any]:
    """The runs' histories as one JSON-ready document (what ``history`` answers)."""
    return {
        "workflow_id": histories[0].workflow_id if histories else None,
        "runs": [h.to_json_dict() for h in histories],
    }


class Archive:
    def __init__(self, engine: AsyncEngine) -> None:
        self.sessions = sessions(engine)

    async def put(self, record: PostMortem, history: Sequence[WorkflowHistory], at: datetime) -> int:
        """Store (or replace: a retried activity writes the same save again) one save with its runs'
        histories; returns the compressed size of its history."""
        blob = pack_histories(history)
        async with self.sessions() as session, session.begin():
            row = await session.get(ArchivedSave, record.save_id)
            if row is None:
                row = ArchivedSave(save_id=record.save_id)
                session.add(row)
            row.workflow_id = record.workflow_id
            row.account_id = record.account_id
            row.playbook_id = record.playbook_id
            row.tier = record.tier
            row.owner_id = record.owner_id
            row.outcome = record.figures.outcome.value
            row.arr = record.figures.arr
            row.opened_at = record.opened_at
            row.closed_at = record.closed_at
            row.archived_at = at
            row.record = record.model_dump_json()
            row.history = blob
            row.history_bytes = len(blob)
        return len(blob)

    async def records(
        self,
        account_id: str | None = None,
        since: datetime | None = None,
        playbook: str | None = None,
        tier: str | None = None,
        owner: str | None = None,
    ) -> list[PostMortem]:
        """Archived post-mortems, oldest first, filtered in SQL (owner: id, matched on the record)."""
        query = select(ArchivedSave.record).order_by(ArchivedSave.opened_at)
        if account_id is not None:
            query = query.where(ArchivedSave.account_id == account_id)
        if since is not None:
            query = query.where(ArchivedSave.opened_at >= since)
        if playbook is not None:
            query = query.where(ArchivedSave.playbook_id == playbook)
        if tier is not None:
            query = query.where(ArchivedSave.tier == tier)
        async with self.sessions() as session:
            rows = (await session.execute(query)).scalars().all()
        found = [PostMortem.model_validate_json(r) for r in rows]
        if owner is not None:
            wanted = owner.lower()
            found = [r for r in found if wanted in {(r.owner_id or "").lower(), (r.owner or "").lower()}]
        return [r.model_copy(update={"source": "archive"}) for r in found]

    async def record(self, save_id: str) -> PostMortem | None:
        async with self.sessions() as session:
            row = await session.get(ArchivedSave, save_id)
        return (
            None if row is None else PostMortem.model_validate_json(row.record).model_copy(update={"source": "archive"})
        )

    async def history(self, save_id: str) -> dict[str, Any] | None:
        """The stored runs' histories of one save as one JSON-ready document."""
        runs = await self.histories(save_id)
        return None if runs is None else history_document(runs)

    async def histories(self, save_id: str) -> list[WorkflowHistory] | None:
        """The stored runs' histories of one save, as they were fetched from Temporal."""
        async with self.sessions() as session:
            row = await session.get(ArchivedSave, save_id)
        return None if row is None else read_histories(row.history)
