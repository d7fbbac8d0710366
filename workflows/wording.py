"""Plain words for the Temporal UI: role names and the summaries of timers and activities.

A CS leader reads these on a save's timeline ("Escalate overdue budget call to CS manager"),
so they say who and what in the words the team uses, never an enum value.
"""

from __future__ import annotations

from datetime import timedelta

from playbook_defs.durations import format_duration
from playbook_defs.vocabulary import OwnerRole

ROLE_NAMES: dict[str, str] = {
    OwnerRole.CSM: "CSM",
    OwnerRole.CS_MANAGER: "CS manager",
    OwnerRole.HEAD_OF_CS: "Head of CS",
    OwnerRole.EXECUTIVE_SPONSOR: "executive sponsor",
    OwnerRole.PRODUCT_MANAGER: "product manager",
    OwnerRole.ENGINEERING: "Engineering",
    OwnerRole.SUPPORT: "Support",
    OwnerRole.SALES: "Sales",
    OwnerRole.SALES_ENGINEER: "sales engineer",
    OwnerRole.FINANCE: "Finance",
    "customer": "customer",
}


def role(who: str) -> str:
    """``cs_manager`` as ``CS manager``; unknown values pass through with spaces."""
    return ROLE_NAMES.get(str(who), str(who).replace("_", " "))


def span(limit: timedelta) -> str:
    """``48 h``, ``7 d``; anything that is not whole hours in the compact form (``90m``)."""
    seconds = int(limit.total_seconds())
    if seconds and seconds % 86400 == 0 and seconds > 2 * 86400:
        return f"{seconds // 86400} d"
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return format_duration(limit)


def first_contact_window(limit: timedelta, title: str) -> str:
    return f"{span(limit)} first-contact window: {title}"


def due(title: str, owner: str) -> str:
    return f"Due: {title} ({role(owner)})"


def inline(title: str) -> str:
    """A title inside a sentence: ``Call the owner`` as ``call the owner``; ``QBR prep`` unchanged."""
    if len(title) > 1 and title[0].isupper() and title[1].islower():
        return title[0].lower() + title[1:]
    return title


def escalate(title: str, to: str, level: int | None = None) -> str:
    text = f"Escalate overdue {inline(title)} to {role(to)}"
    return text if level is None else f"{text} (level {level})"


def rule_name(limit: timedelta, demo_speed: int | None = None) -> str:
    """``first-contact rule (48 h)``: one name for the rule, whatever the playbook's window.

    On the demo clock the window is named as the playbook means it (``48 h on the demo clock``).
    """
    if demo_speed:
        return f"first-contact rule ({span(limit * demo_speed)} on the demo clock)"
    return f"first-contact rule ({span(limit)})"
