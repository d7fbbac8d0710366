"""Why a save started, in one line: the trigger's snapshot as a person reads it."""

from __future__ import annotations

from workflows.models import TriggerRecord
from workflows.rules import when


def why_started(record: TriggerRecord) -> str:
    """``low usage from salesforce, rule usage_below_50pct v3 (usage_pct=31), seen ..., received ...``."""
    t = record.trigger
    parts = [t.kind.value.replace("_", " ") + (f" ({t.reason.value})" if t.reason else "") + f" from {t.source}"]
    if t.rule:
        parts.append(f"rule {t.rule}" + (f" v{t.rule_version}" if t.rule_version else ""))
    if t.signals:
        parts.append(", ".join(f"{k}={v}" for k, v in t.signals.items()))
    if t.observed_at:
        parts.append(f"seen {when(t.observed_at)}")
    parts.append(f"received {when(record.received_at)}")
    if t.reported_by:
        parts.append(f"reported by {t.reported_by}")
    if t.note:
        parts.append(f'"{t.note}"')
    return "; ".join(parts)
