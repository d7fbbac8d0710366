"""The schema of ``rules/triage.yaml``: which saves deserve the effort, and which way to go.

Two questions, each answered by the first matching rule:

- **Red zone or dead zone**, from the account's value: ARR, strategic and advocacy flags
  (a vocal detractor is worth saving beyond their revenue), fit.
- **Rescue, recover or farewell**, from who must change: us, both sides, or the customer.

Dead-zone and farewell saves take the exit path: an exit interview and a graceful goodbye.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import ConfigDict, Field

from playbook_defs.durations import Duration
from playbook_defs.schema import StepId, TemplateName
from playbook_defs.values import SafeModel
from playbook_defs.vocabulary import (
    AccountFlag,
    CancellationReason,
    Fit,
    SponsorStatus,
    Tier,
    TriggerKind,
)


class Zone(StrEnum):
    """Red-zone accounts are worth resuscitating; dead-zone accounts are not worth the resources (they
    still get an exit interview and a graceful goodbye)."""

    RED = "red_zone"
    DEAD = "dead_zone"


class Strategy(StrEnum):
    """By who must change: rescue (mainly us), recover (shared effort), farewell (the customer)."""

    RESCUE = "rescue"
    RECOVER = "recover"
    FAREWELL = "farewell"


class SavePath(StrEnum):
    """What the save does: run the playbook, or exit gracefully without save effort."""

    SAVE = "save"
    EXIT = "exit"


class _Frozen(SafeModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Frozen):
    """Every check given must hold; a check left out is not tested. ``{}`` always holds."""

    flags_any: tuple[AccountFlag, ...] = ()
    flags_none: tuple[AccountFlag, ...] = ()
    arr_below: float | None = Field(default=None, ge=0)
    arr_at_least: float | None = Field(default=None, ge=0)
    tier_in: tuple[Tier, ...] = ()
    fit_in: tuple[Fit, ...] = ()
    sponsor_in: tuple[SponsorStatus, ...] = ()
    usage_below: float | None = Field(default=None, ge=0, le=100)
    health_below: int | None = Field(default=None, ge=0, le=100)
    trigger_in: tuple[TriggerKind, ...] = ()
    reason_in: tuple[CancellationReason, ...] = ()


class ZoneRule(_Frozen):
    id: StepId
    zone: Zone
    when: Condition
    because: str = Field(min_length=1)


class StrategyRule(_Frozen):
    id: StepId
    strategy: Strategy
    when: Condition
    because: str = Field(min_length=1)


class TriageRules(_Frozen):
    """The whole triage policy; a save records the version and digest it was triaged with."""

    version: int = Field(ge=1)
    digest: str = ""
    override_window: Duration = timedelta(hours=24)
    """How long a CS manager may override the decision before the exit path sends anything."""
    zone_rules: tuple[ZoneRule, ...] = ()
    default_zone: Zone = Zone.RED
    default_zone_because: str = "no rule marks it as not worth saving"
    strategy_rules: tuple[StrategyRule, ...] = ()
    default_strategy: Strategy = Strategy.RESCUE
    default_strategy_because: str = "no rule says the change is theirs or shared"
    farewell_template: TemplateName = "farewell"
    """The graceful offboarding email of a farewell or dead-zone save."""
