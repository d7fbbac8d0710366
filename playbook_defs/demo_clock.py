"""The demo clock: copies of the playbooks with every duration divided by a speed-up factor.

``saves up --demo`` runs its saves on these copies so that a 48-hour rule breaks in two real
minutes instead of two days. The playbook files themselves are never changed: the copies are
written to the data directory. A copy says what it is: its name ends in "(demo clock)" and
``demo_speed`` holds the factor, which the save's summary and details show.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter

from playbook_defs.durations import Duration, clock_words, format_duration
from playbook_defs.loader import PLAYBOOK_DIR, load_playbook, load_playbooks, template_names
from playbook_defs.schema import PlaybookDef

DEFAULT_SPEED = 1440
"""One demo day per real minute: the 48-hour rule breaks after two minutes, day 30 comes after 30."""

LABEL = "(demo clock)"


def scaled(value: timedelta, speed: int) -> timedelta:
    """``value`` on the demo clock, in whole seconds; a non-zero duration stays at least one second."""
    if value <= timedelta(0):
        return value
    return timedelta(seconds=max(1, round(value.total_seconds() / speed)))


def _scale(value: Any, speed: int) -> Any:
    if isinstance(value, timedelta):
        return scaled(value, speed)
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        return value.model_copy(update={name: _scale(getattr(value, name), speed) for name in fields})
    if isinstance(value, tuple):
        return tuple(_scale(v, speed) for v in value)
    if isinstance(value, list):
        return [_scale(v, speed) for v in value]
    if isinstance(value, dict):
        return {k: _scale(v, speed) for k, v in value.items()}
    return value


def scale_playbook(playbook: PlaybookDef, speed: int) -> PlaybookDef:
    """Every duration of ``playbook`` (defaults included) divided by ``speed``, and labelled."""
    if speed < 1:
        raise ValueError(f"the demo clock's speed must be 1 or more, not {speed}")
    result: PlaybookDef = _scale(playbook, speed)
    return result.model_copy(update={"name": f"{playbook.name} {LABEL}", "demo_speed": speed})


def write_demo_playbooks(target: Path, speed: int = DEFAULT_SPEED, source: Path = PLAYBOOK_DIR) -> Path:
    """Write scaled copies of every playbook in ``source`` (with its rules and templates) to ``target``.

    The triage override window is scaled too; the risk scan's daily schedule is not (it is a
    calendar, not a deadline). The copies are loaded back before returning, so a copy that would
    not validate stops the demo here rather than in the worker.
    """
    if target.exists():
        shutil.rmtree(target)

    def skip(directory: str, names: list[str]) -> set[str]:
        top = Path(directory) == source
        return {n for n in names if n.endswith(".py") or n == "__pycache__" or (top and n.endswith(".yaml"))}

    shutil.copytree(source, target, ignore=skip)
    templates = template_names(source / "templates") | template_names()
    for path in sorted(source.glob("*.yaml")):
        playbook = scale_playbook(load_playbook(path, templates), speed)
        data = playbook.model_dump(mode="json", exclude={"digest"})
        header = f"# {path.name} on the demo clock ({clock_words(speed)}): written by `saves up --demo`; do not edit.\n"
        (target / path.name).write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    triage = source / "rules" / "triage.yaml"
    if triage.exists():
        rules = yaml.safe_load(triage.read_text()) or {}
        window = TypeAdapter(Duration).validate_python(rules.get("override_window", "24h"))
        rules["override_window"] = format_duration(scaled(window, speed))
        (target / "rules" / "triage.yaml").write_text(yaml.safe_dump(rules, sort_keys=False, allow_unicode=True))
    load_playbooks(target)
    return target
