"""When a save takes no more work from people: it closed, or triage is holding it on the exit path."""

from __future__ import annotations

from playbook_defs.vocabulary import Stage
from workflows import rules
from workflows.models import SaveState


def refuse_inactive(s: SaveState) -> str | None:
    """Why a person's action is refused now, or None when the save accepts it."""
    if s.stage is Stage.CLOSED:
        return f"the save closed on {rules.when(s.closed_at)} ({s.closed_reason})"
    if s.stage is Stage.TRIAGE and s.triage is not None:
        return (
            f"triage chose the exit path; no save effort until {rules.when(s.triage.window_closes_at)} "
            "unless a CS manager overrides it (override_triage)"
        )
    return None
