"""Values every interface may pass on: finite numbers, valid Unicode, bounded moments.

A value that JSON cannot carry (``NaN``, ``inf``, a lone surrogate such as ``"\\ud800"``) or
that date arithmetic cannot hold (a moment in year 9999 plus an escalation delay) must be
refused where it enters, with the field named, never discovered later by Temporal's payload
converter or by a workflow task that then fails for ever. Every model that crosses a boundary
(API bodies, CLI requests, workflow requests and state, activity contracts, playbooks, CRM
import) derives from :class:`SafeModel`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ValidationInfo, field_validator

LARGEST_INT = 2**63 - 1
"""Integers beyond a signed 64-bit value cannot be stored by SQL databases or search attributes."""
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Moments people give (due dates, when a signal was seen) lie in this range, so a deadline plus
an escalation delay (at most five years) always stays a valid date."""


def problem(value: Any, where: str = "") -> str | None:
    """What makes ``value`` unsafe to pass on, naming the part of it (``['usage_pct']: ...``), or None."""
    prefix = f"{where}: " if where else ""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"{prefix}text is not valid Unicode (a lone surrogate at position {exc.start})"
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{prefix}must be a finite number, not {value!r}"
    if isinstance(value, int):
        return None if abs(value) <= LARGEST_INT else f"{prefix}number is too large (more than 64 bits)"
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = problem(key, f"{where} key" if where else "key") or problem(item, f"{where}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(value, list | tuple | set | frozenset):
        for n, item in enumerate(value):
            found = problem(item, f"{where}[{n}]")
            if found:
                return found
    return None


def checked(value: Any) -> Any:
    """Return ``value`` or raise ValueError saying what in it cannot be passed on."""
    found = problem(value)
    if found:
        raise ValueError(found)
    return value


class SafeModel(BaseModel):
    """A model whose every field holds only values JSON, SQL and Temporal can carry."""

    @field_validator("*", mode="after")
    @classmethod
    def _passable(cls, value: Any, info: ValidationInfo) -> Any:
        return checked(value)


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError(
            f"{value.isoformat()} is out of range; give a moment between {EARLIEST.year} and {LATEST.year}"
        )
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_in_range)]
"""A moment a person or another system gives: with a time zone (a naive one is refused) and
within :data:`EARLIEST` and :data:`LATEST`."""
