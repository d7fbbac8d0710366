"""Durations as people write them in playbooks: ``90m``, ``48h``, ``7d``, ``2w``, ``1d12h``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

_UNITS = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}
MAX_DURATION = timedelta(days=5 * 365 + 1)
"""The longest wait a playbook or a person may ask for: five years. Anything longer is a typo, and
added to a date it would leave the calendar (``date value out of range``)."""
_PART = re.compile(r"(\d+)([wdhms])")
_WHOLE = re.compile(r"(?:\d+[wdhms])+")


def parse_duration(value: Any) -> Any:
    """Turn ``"1d12h"`` into a timedelta; leave ISO 8601 strings and timedeltas to pydantic."""
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ValueError(f"negative duration {value}; durations count forward from an event")
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"unparseable duration {value!r}; write it like 90m, 48h, 7d or 2w")
    if isinstance(value, int):
        raise ValueError(f"duration {value!r} has no unit; write it like 90m, 48h, 7d or 2w")
    text = value.strip().replace(" ", "")
    if text.startswith("-"):
        raise ValueError(f"negative duration {value!r}; durations count forward from an event")
    if text.startswith("P"):  # ISO 8601, as pydantic itself writes timedeltas
        return text
    if text == "0":
        return timedelta(0)
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"unparseable duration {value!r}; write it like 90m, 48h, 7d or 2w")
    total = timedelta(0)
    try:
        for amount, unit in _PART.findall(text):
            total += int(amount) * _UNITS[unit]
    except OverflowError:
        raise ValueError(f"duration {value!r} is longer than 5 years; write a shorter one") from None
    return total


def _bounded(value: timedelta) -> timedelta:
    if value > MAX_DURATION:
        raise ValueError(f"duration {format_duration(value)} is longer than 5 years; write a shorter one")
    return value


def format_duration(value: timedelta) -> str:
    """The inverse of :func:`parse_duration`, in the largest whole units: ``timedelta(hours=36)`` is ``1d12h``."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


def clock_words(speed: int) -> str:
    """``1 real minute = 1 demo day``: what a demo clock running ``speed`` times faster means, for people."""
    seconds = int((timedelta(minutes=1) * speed).total_seconds())
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            amount = seconds // size
            return f"1 real minute = {amount} demo {unit}{'s' if amount != 1 else ''}"
    return f"1 real minute = {format_duration(timedelta(seconds=seconds))} on the demo clock"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    AfterValidator(_bounded),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A non-negative timedelta of at most five years that reads and writes the compact form used in playbook YAML."""

Elapsed = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A non-negative timedelta measured by a save (how late something is), in the same form; not bounded."""
