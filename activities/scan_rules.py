"""The risk scan's verdict on one account: pure, so tests and the scan read accounts the same way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from playbook_defs.loader import PLAYBOOK_DIR
from playbook_defs.risk_rules import RiskScanRules, ScanCheck, ScanRule
from playbook_defs.rules_file import load_rules_file, rules_path
from playbook_defs.vocabulary import RiskColour, SponsorStatus

RISK_RULES_FILE = "risk_rules.yaml"
RANK = {RiskColour.GREEN: 0, RiskColour.YELLOW: 1, RiskColour.RED: 2}


def load_scan_rules(playbook_dir: Path = PLAYBOOK_DIR) -> RiskScanRules:
    return load_rules_file(rules_path(playbook_dir, RISK_RULES_FILE), RiskScanRules, playbook_dir)


@dataclass(frozen=True)
class AccountSignals:
    """What the CRM knows about an account that the trigger rules read."""

    account_id: str
    usage_pct: float | None = None
    health: int | None = None
    onboarding_started: date | None = None
    live_since: date | None = None
    renewal_date: date | None = None
    renewal_likelihood: float | None = None
    payment_overdue_since: date | None = None
    last_business_review: date | None = None
    sponsor_status: SponsorStatus | None = None


@dataclass(frozen=True)
class Verdict:
    colour: RiskColour
    fired: tuple[ScanRule, ...]

    @property
    def red(self) -> tuple[ScanRule, ...]:
        return tuple(r for r in self.fired if r.colour == "red")


def _days(since: date | None, today: date) -> int | None:
    return None if since is None else (today - since).days


def holds(check: ScanCheck, a: AccountSignals, today: date) -> bool:
    """Every check given holds; a missing signal fails its check (no data is not a risk signal)."""
    results: list[bool] = []
    if check.onboarding_over_days is not None:
        waited = _days(a.onboarding_started, today)
        results.append(a.live_since is None and waited is not None and waited > check.onboarding_over_days)
    if check.usage_below is not None:
        results.append(a.usage_pct is not None and a.usage_pct < check.usage_below)
    if check.renewal_within_days is not None:
        left = None if a.renewal_date is None else (a.renewal_date - today).days
        results.append(left is not None and 0 <= left < check.renewal_within_days)
    if check.renewal_likelihood_below is not None:
        results.append(a.renewal_likelihood is not None and a.renewal_likelihood < check.renewal_likelihood_below)
    if check.payment_overdue_days is not None:
        overdue = _days(a.payment_overdue_since, today)
        results.append(overdue is not None and overdue > check.payment_overdue_days)
    if check.no_business_review_days is not None:
        since = _days(a.last_business_review or a.live_since, today)
        results.append(since is not None and since > check.no_business_review_days)
    if check.sponsor_in:
        results.append(a.sponsor_status in check.sponsor_in)
    if check.health_below is not None:
        results.append(a.health is not None and a.health < check.health_below)
    return bool(results) and all(results)


def evaluate(rules: RiskScanRules, account: AccountSignals, today: date) -> Verdict:
    """Red if a red rule fires, yellow if only a yellow one does, green otherwise."""
    fired = tuple(r for r in rules.rules if holds(r.when, account, today))
    if any(r.colour == "red" for r in fired):
        colour = RiskColour.RED
    elif fired:
        colour = RiskColour.YELLOW
    else:
        colour = RiskColour.GREEN
    return Verdict(colour, fired)
