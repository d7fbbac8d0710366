"""What the Temporal UI shows of a save: its stage, the search attributes and the current details."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from workflows import rules
from workflows import search_attributes as sa
from workflows.details import current_details
from workflows.models import SaveState


class Publisher:
    """Upserts only the search attributes that changed, and rewrites the current details."""

    def __init__(self) -> None:
        self._published: dict[str, Any] = {}

    def publish(self, s: SaveState) -> None:
        now = workflow.now()
        s.stage = rules.current_stage(s)
        values = rules.search_values(s, now)
        if not self.upserts_needs_attention():
            del values[sa.NEEDS_ATTENTION]
        updates = []
        for key, value in values.items():
            if self._published.get(key.name, ...) != value:
                self._published[key.name] = value
                updates.append(key.value_unset() if value is None else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(current_details(s, now))

    def upserts_needs_attention(self) -> bool:
        """Whether this run keeps ``SaveNeedsAttention`` current. Runs recorded before it existed never
        upserted it (a new upsert would not match their history); they replay without it."""
        return workflow.patched(sa.NEEDS_ATTENTION_PATCH)
