"""What the Temporal UI shows of a save: its stage, the search attributes and the current details."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from workflows import rules
from workflows.details import current_details
from workflows.models import SaveState


class Publisher:
    """Upserts only the search attributes that changed, and rewrites the current details."""

    def __init__(self) -> None:
        self._published: dict[str, Any] = {}

    def publish(self, s: SaveState) -> None:
        now = workflow.now()
        s.stage = rules.current_stage(s)
        updates = []
        for key, value in rules.search_values(s, now).items():
            if self._published.get(key.name, ...) != value:
                self._published[key.name] = value
                updates.append(key.value_unset() if value is None else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(current_details(s, now))
