"""Another risk signal for an account with a save running: recorded on that save, never a second
save. During recovery a new signal is a relapse and reopens the save."""

from __future__ import annotations

from datetime import datetime

from workflows.models import Relapse, SaveState, Trigger, TriggerRecord

MAX_TRIGGERS = 200
"""Triggers kept on one save; beyond this only a count grows, so a noisy source cannot bloat the state."""


def record_trigger(s: SaveState, trigger: Trigger, now: datetime) -> bool:
    """Record ``trigger`` once (a redelivered event is ignored); False if it was a redelivery."""
    if any(r.trigger.trigger_id == trigger.trigger_id for r in s.triggers):
        return False
    if len(s.triggers) < MAX_TRIGGERS:
        s.triggers.append(TriggerRecord(trigger=trigger, received_at=now, merged=True))
    else:
        s.triggers_not_kept += 1
    r = s.recovery
    if r is not None and r.relapse is None and not r.completed:
        r.relapse = Relapse(
            at=now, trigger=trigger, reason=f"new {trigger.kind.value.replace('_', ' ')} signal during recovery"
        )
    return True
