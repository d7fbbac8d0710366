"""Triage before effort: pure functions over the triage rules, an account and a trigger.

Deterministic and free of I/O, so the save workflow runs them itself and the tests call them
directly. The rules come from ``playbook_defs/rules/triage.yaml`` through an activity.
"""

from __future__ import annotations

from datetime import datetime

from playbook_defs.triage_rules import Condition, SavePath, Strategy, TriageRules, Zone
from workflows.contracts import AccountSnapshot
from workflows.models import Trigger
from workflows.triage_models import OverrideTriage, TriageDecision, TriageOverride

ZONE_WORDS = {Zone.RED: "red zone", Zone.DEAD: "dead zone"}


def matches(when: Condition, account: AccountSnapshot, trigger: Trigger) -> bool:
    """True when every check the condition gives holds for this account and trigger."""
    flags = set(account.flags)
    usage, health = account.usage_pct, account.health
    unknown_below = (  # a missing reading never satisfies a "below" check
        (when.usage_below is not None and (usage is None or usage >= when.usage_below))
        or (when.health_below is not None and (health is None or health >= when.health_below))
    )
    return not (
        unknown_below
        or (when.flags_any and not flags.intersection(when.flags_any))
        or flags.intersection(when.flags_none)
        or (when.arr_below is not None and account.arr >= when.arr_below)
        or (when.arr_at_least is not None and account.arr < when.arr_at_least)
        or (when.tier_in and account.tier not in when.tier_in)
        or (when.fit_in and account.fit not in when.fit_in)
        or (when.sponsor_in and account.sponsor_status not in when.sponsor_in)
        or (when.trigger_in and trigger.kind not in when.trigger_in)
        or (when.reason_in and trigger.reason not in when.reason_in)
    )


def path_for(zone: Zone, strategy: Strategy) -> SavePath:
    """Dead-zone and farewell saves exit gracefully; every other save runs its playbook."""
    return SavePath.EXIT if zone is Zone.DEAD or strategy is Strategy.FAREWELL else SavePath.SAVE


def _facts(account: AccountSnapshot) -> str:
    parts = [f"ARR {account.arr:,.0f}", account.tier.value.replace("_", " ")]
    if account.fit is not None:
        parts.append(f"fit {account.fit.value}")
    if account.sponsor_status is not None:
        parts.append(f"sponsor {account.sponsor_status.value}")
    if account.usage_pct is not None:
        parts.append(f"usage {account.usage_pct:g}%")
    if account.flags:
        parts.append("flags " + ", ".join(f.value.replace("_", " ") for f in account.flags))
    return "; ".join(parts)


def decide(rules: TriageRules, account: AccountSnapshot, trigger: Trigger, now: datetime) -> TriageDecision:
    """The first matching zone rule and the first matching strategy rule decide; defaults otherwise."""
    zone_rule = next((r for r in rules.zone_rules if matches(r.when, account, trigger)), None)
    zone = zone_rule.zone if zone_rule else rules.default_zone
    zone_because = zone_rule.because if zone_rule else rules.default_zone_because
    strategy_rule = next((r for r in rules.strategy_rules if matches(r.when, account, trigger)), None)
    strategy = strategy_rule.strategy if strategy_rule else rules.default_strategy
    strategy_because = strategy_rule.because if strategy_rule else rules.default_strategy_because
    path = path_for(zone, strategy)
    return TriageDecision(
        zone=zone,
        zone_rule=zone_rule.id if zone_rule else "default",
        strategy=strategy,
        strategy_rule=strategy_rule.id if strategy_rule else "default",
        path=path,
        reasons=[
            f"{ZONE_WORDS[zone]}: {zone_because}",
            f"{strategy.value}: {strategy_because}",
            f"account: {_facts(account)}",
        ],
        rules_version=rules.version,
        rules_digest=rules.digest,
        decided_at=now,
        window_closes_at=now + rules.override_window,
        farewell_template=rules.farewell_template,
        effort_started_at=now if path is SavePath.SAVE else None,
    )


def holding(decision: TriageDecision | None) -> bool:
    """An exit path waits for the override window (or a confirmation) before it sends anything."""
    return decision is not None and decision.path is SavePath.EXIT and decision.effort_started_at is None


def exit_chosen(decision: TriageDecision | None) -> bool:
    return decision is not None and decision.path is SavePath.EXIT


def override_refusal(decision: TriageDecision | None, now: datetime) -> str | None:
    """Why an override cannot be taken now, or None when it can."""
    if decision is None:
        return "this save was not triaged"
    if decision.override is not None:
        o = decision.override
        return f"the triage was already overridden by {o.by} at {o.at:%a %d %b %H:%M UTC}"
    if decision.confirmed_by is not None:
        return f"the triage was already confirmed by {decision.confirmed_by}"
    if now > decision.window_closes_at:
        return (
            f"the override window closed at {decision.window_closes_at:%a %d %b %H:%M UTC}; "
            f"the save is on its {decision.path.value} path"
        )
    return None


def apply_override(decision: TriageDecision, request: OverrideTriage, now: datetime) -> TriageDecision:
    """Record a CS manager's review: a confirmation, or a new zone / strategy and so maybe a new path."""
    if request.zone is None and request.strategy is None:
        decision.confirmed_by = request.by
        decision.reasons.append(f"confirmed by {request.by}: {request.reason}")
    else:
        zone = request.zone or decision.zone
        strategy = request.strategy or decision.strategy
        path = path_for(zone, strategy)
        decision.override = TriageOverride(
            zone=zone,
            strategy=strategy,
            path=path,
            previous_path=decision.path,
            reason=request.reason,
            by=request.by,
            at=now,
        )
        decision.reasons.append(
            f"overridden by {request.by} to {ZONE_WORDS[zone]}, {strategy.value} ({path.value} path): {request.reason}"
        )
        decision.zone, decision.strategy, decision.path = zone, strategy, path
    return decision


def summary(decision: TriageDecision) -> str:
    """One line for the CRM timeline and the UI."""
    return f"Triage: {ZONE_WORDS[decision.zone]}, {decision.strategy.value} -> {decision.path.value} path. " + " ".join(
        r.rstrip(".") + "." for r in decision.reasons[:2]
    )


def exit_reason(decision: TriageDecision | None) -> str:
    """How a save that triage sent to the exit closes: ``farewell`` or ``dead zone``."""
    if decision is not None and decision.strategy is Strategy.FAREWELL:
        return "farewell"
    return "dead zone"


def triage_line(decision: TriageDecision, now: datetime) -> str:
    """The triage as the save's details show it, with the override window while it is open; not
    who overrode or confirmed it (the details are metadata everyone with UI access reads)."""
    text = f"**Triage:** {ZONE_WORDS[decision.zone]}, {decision.strategy.value} ({decision.path.value} path)"
    if decision.override is not None:
        text += ", overridden by a CS manager"
    elif decision.confirmed_by is not None:
        text += ", confirmed"
    elif now <= decision.window_closes_at:
        text += f"; a CS manager may override until {decision.window_closes_at:%a %d %b %H:%M UTC}"
    return text
