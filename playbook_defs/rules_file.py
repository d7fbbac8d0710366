"""Reading a rules YAML file (triage, risk scan) into a pydantic model; errors name the field."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from playbook_defs.errors import describe
from playbook_defs.loader import PLAYBOOK_DIR, PlaybookError, template_names
from playbook_defs.safe_yaml import load_yaml

M = TypeVar("M", bound=BaseModel)
RULES_DIR = PLAYBOOK_DIR / "rules"


def rules_path(playbook_dir: Path, name: str) -> Path:
    """``<playbook dir>/rules/<name>``, or the bundled file when that directory has none."""
    own = playbook_dir / "rules" / name
    return own if own.exists() else RULES_DIR / name


def load_rules_file(path: Path, model: type[M], playbook_dir: Path | None = None) -> M:
    """Validate ``path`` against ``model``; :class:`PlaybookError` names the file and the field."""
    if path.is_dir():
        raise PlaybookError(path, ["is a directory, not a rules file; rename or remove it"])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlaybookError(path, [f"cannot read the file: {exc.strerror}"]) from exc
    try:
        data: Any = load_yaml(raw)
    except yaml.YAMLError as exc:
        raise PlaybookError(path, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(data, dict):
        raise PlaybookError(path, ["the top level must be a mapping of rule fields"])
    templates = template_names()
    if playbook_dir is not None:
        templates |= template_names(playbook_dir / "templates")
    try:
        rules = model.model_validate(data, context={"templates": templates})
    except ValidationError as exc:
        raise PlaybookError(path, describe(exc, data)) from exc
    if "digest" in model.model_fields:
        rules = rules.model_copy(update={"digest": hashlib.sha256(raw).hexdigest()[:12]})
    return rules
