"""The schema of ``rules/risk_rules.yaml``: the daily risk scan's trigger rules and thresholds.

Each rule is a set of checks on an account's signals (onboarding, usage and value, renewal and
billing, sponsorship).
A red rule names the trigger kind a save opens on; a yellow rule only colours the account, as a
leading indicator, so an account does not jump from green to red unannounced (a jump means the
leading indicators were missing).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, Self

from pydantic import ConfigDict, Field, model_validator

from playbook_defs.durations import Duration
from playbook_defs.schema import StepId
from playbook_defs.values import SafeModel
from playbook_defs.vocabulary import SponsorStatus, TriggerKind


class _Frozen(SafeModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScanCheck(_Frozen):
    """Every check given must hold; a signal the CRM does not have never satisfies a check."""

    onboarding_over_days: int | None = Field(default=None, ge=0)
    """Onboarding started more than this many days ago and the account is not live yet."""
    usage_below: float | None = Field(default=None, ge=0, le=100)
    renewal_within_days: int | None = Field(default=None, ge=0)
    renewal_likelihood_below: float | None = Field(default=None, ge=0, le=100)
    payment_overdue_days: int | None = Field(default=None, ge=0)
    """The oldest unpaid invoice is more than this many days past due."""
    no_business_review_days: int | None = Field(default=None, ge=0)
    """The last business review (or, with none, going live) is more than this many days ago."""
    sponsor_in: tuple[SponsorStatus, ...] = ()
    health_below: int | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("give at least one check; an empty rule would flag every account")
        return self


class ScanRule(_Frozen):
    id: StepId
    colour: Literal["red", "yellow"]
    trigger: TriggerKind | None = None
    """For a red rule: the risk signal the save opens on (it picks the playbook)."""
    when: ScanCheck
    because: str = Field(min_length=1)

    @model_validator(mode="after")
    def _red_needs_a_trigger(self) -> Self:
        if self.colour == "red" and self.trigger is None:
            raise ValueError("a red rule starts a save, so it needs a trigger kind")
        if self.colour == "yellow" and self.trigger is not None:
            raise ValueError("a yellow rule only colours the account; remove its trigger")
        return self


class ScanSchedule(_Frozen):
    every: Duration = timedelta(days=1)
    offset: Duration = timedelta(hours=6)
    """Into each interval, from the Unix epoch: 6h with a 1d interval runs at 06:00 UTC."""


class RiskScanRules(_Frozen):
    version: int = Field(ge=1)
    digest: str = ""
    schedule: ScanSchedule = ScanSchedule()
    batch_size: int = Field(default=500, ge=1, le=5000)
    """Accounts per activity: one page of the CRM."""
    batches_per_run: int = Field(default=40, ge=1, le=1000)
    """Pages per workflow run before it continues as new, to keep each history short."""
    concurrent_triggers: int = Field(default=16, ge=1, le=200)
    rules: tuple[ScanRule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        ids = [r.id for r in self.rules]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate rule id {duplicates}")
        return self
