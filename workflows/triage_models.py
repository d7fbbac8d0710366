"""A save's triage decision and the CS manager's override request (kept apart from the rules)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, StringConstraints

from playbook_defs.triage_rules import SavePath, Strategy, Zone
from playbook_defs.values import SafeModel


class _Model(SafeModel):
    model_config = ConfigDict(extra="forbid")


class TriageOverride(_Model):
    """What a CS manager changed, when and why; the decision before it stays in ``reasons``."""

    zone: Zone
    strategy: Strategy
    path: SavePath
    previous_path: SavePath
    reason: str
    by: str
    at: datetime


class TriageDecision(_Model):
    """Red or dead zone, rescue / recover / farewell, and so save or exit, with the reasons."""

    zone: Zone
    zone_rule: str
    strategy: Strategy
    strategy_rule: str
    path: SavePath
    reasons: list[str]
    rules_version: int
    rules_digest: str
    decided_at: datetime
    window_closes_at: datetime
    """Until then a CS manager may override; an exit path sends nothing before it (or a confirmation)."""
    farewell_template: str
    effort_started_at: datetime | None = None
    """When the chosen path began: at once for a save, after the window (or a confirmation) for an exit."""
    override: TriageOverride | None = None
    confirmed_by: str | None = None

    @property
    def final(self) -> bool:
        """No more overrides: one was made, or the decision was confirmed."""
        return self.override is not None or self.confirmed_by is not None


class OverrideTriage(_Model):
    """A CS manager's review of the triage. Give a zone and/or a strategy to change it; give
    neither to confirm it as it stands (an exit path then starts at once)."""

    zone: Zone | None = None
    strategy: Strategy | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    by: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
