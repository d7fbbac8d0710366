"""The root cause, found with the five whys ("budget cut" -> "we can't show ROI" is a value problem).
Recording it completes the playbook's root-cause step."""

from __future__ import annotations

from datetime import datetime

from workflows.models import RecordRootCause, RootCause, SaveState
from workflows.save import tasks


def record(s: SaveState, request: RecordRootCause, now: datetime) -> RootCause:
    s.root_cause = RootCause(
        whys=request.whys, category=request.category, summary=request.summary, recorded_by=request.by, at=now
    )
    for step in s.playbook.steps:
        task = s.tasks.get(step.id)
        if step.completed_by == "root_cause" and task is not None and task.is_active:
            tasks.complete(s, task, request.by, "root cause recorded", now)
    return s.root_cause
