"""Load and validate playbook YAML files; errors name the file and the field."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from playbook_defs.errors import describe
from playbook_defs.safe_yaml import load_yaml
from playbook_defs.schema import PlaybookDef
from playbook_defs.vocabulary import CancellationReason, TriggerKind

PLAYBOOK_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = PLAYBOOK_DIR / "templates"


class PlaybookError(ValueError):
    """A playbook file that cannot be used. ``problems`` are ``"<field>: <what is wrong>"`` lines."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path.name}: " + "; ".join(problems))


def template_names(template_dir: Path = TEMPLATE_DIR) -> frozenset[str]:
    """Email templates that exist: ``templates/<name>.j2``."""
    return frozenset(p.stem for p in template_dir.glob("*.j2"))


def load_playbook(path: Path, templates: frozenset[str] | None = None) -> PlaybookDef:
    """Read one YAML file into a :class:`PlaybookDef`, or raise :class:`PlaybookError`."""
    if path.is_dir():
        raise PlaybookError(path, ["is a directory, not a playbook file; rename or remove it"])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlaybookError(path, [f"cannot read the file: {exc.strerror}"]) from exc
    try:
        data = load_yaml(raw)
    except yaml.YAMLError as exc:
        raise PlaybookError(path, [f"not valid YAML: {exc}"]) from exc
    if data is None:
        raise PlaybookError(path, ["the file is empty; a playbook needs id, name, version and steps"])
    if not isinstance(data, dict):
        raise PlaybookError(path, ["the top level must be a mapping of playbook fields"])
    context = {"templates": templates if templates is not None else template_names()}
    try:
        playbook = PlaybookDef.model_validate(data, context=context)
    except ValidationError as exc:
        raise PlaybookError(path, describe(exc, data)) from exc
    if playbook.id != path.stem:
        raise PlaybookError(path, [f"id: {playbook.id!r} must match the file name {path.stem!r}"])
    self_escalations = playbook.inherited_self_escalations()
    if self_escalations:
        raise PlaybookError(path, self_escalations)
    digest = hashlib.sha256(raw).hexdigest()[:12]
    return playbook.model_copy(update={"digest": digest})


_REASONS = ", ".join(r.value for r in CancellationReason)


class RouteError(KeyError):
    """No playbook for this trigger. ``field`` is the request field to fix (kind, reason, playbook)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PlaybookLibrary:
    """Every playbook in a directory, and which one answers each trigger."""

    playbooks: Mapping[str, PlaybookDef]

    def get(self, playbook_id: str) -> PlaybookDef:
        try:
            return self.playbooks[playbook_id]
        except KeyError:
            known = ", ".join(sorted(self.playbooks))
            raise RouteError("playbook", f"unknown playbook {playbook_id!r} (known: {known})") from None

    def route(self, kind: TriggerKind, reason: CancellationReason | None = None) -> PlaybookDef:
        """The playbook for a trigger kind.

        A cancellation request is routed by the reason the customer stated. A manual trigger
        is a person's judgement: it names a playbook or a reason, unless a playbook claims
        ``manual`` in its ``triggers``; there is no silent default.
        """
        if kind is TriggerKind.CANCELLATION_REQUEST or (kind is TriggerKind.MANUAL and reason is not None):
            if reason is None:
                raise RouteError(
                    "reason", f"a cancellation_request needs a reason to pick the playbook (one of: {_REASONS})"
                )
            for playbook in self.playbooks.values():
                if reason in playbook.cancellation_reasons:
                    return playbook
            raise RouteError("reason", f"no playbook answers reason {reason.value!r}")
        for playbook in self.playbooks.values():
            if kind in playbook.triggers:
                return playbook
        if kind is TriggerKind.MANUAL:
            raise RouteError(
                "reason", f"a manual trigger needs a playbook or a reason to pick one (reasons: {_REASONS})"
            )
        raise RouteError("kind", f"no playbook answers trigger {kind.value!r}; name a playbook explicitly")

    def routes(self) -> dict[str, str | None]:
        """Every trigger kind (and cancellation reason) and the playbook it starts; None: unrouted."""
        table: dict[str, str | None] = {}
        for kind in TriggerKind:
            if kind is TriggerKind.CANCELLATION_REQUEST:
                for reason in CancellationReason:
                    table[f"{kind.value}/{reason.value}"] = self._id_or_none(kind, reason)
            else:
                table[kind.value] = self._id_or_none(kind, None)
        return table

    def _id_or_none(self, kind: TriggerKind, reason: CancellationReason | None) -> str | None:
        try:
            return self.route(kind, reason).id
        except RouteError:
            return None


def load_playbooks(directory: Path = PLAYBOOK_DIR) -> PlaybookLibrary:
    """Load every ``*.yaml`` playbook in ``directory``; a bad file stops the load (the first one's error)."""
    playbooks, problems = check_playbooks(directory)
    if problems:
        raise problems[0]
    return PlaybookLibrary(playbooks)


def check_playbooks(directory: Path = PLAYBOOK_DIR) -> tuple[dict[str, PlaybookDef], list[PlaybookError]]:
    """Every playbook in ``directory`` that loads, and the error of every file that does not (then of the
    routes they share), so that one check lists every problem instead of stopping at the first file."""
    templates = template_names(directory / "templates") | template_names()
    playbooks: dict[str, PlaybookDef] = {}
    problems: list[PlaybookError] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            playbook = load_playbook(path, templates)
        except PlaybookError as exc:
            problems.append(exc)
            continue
        except RecursionError:
            problems.append(PlaybookError(path, ["nested too deeply to read"]))
            continue
        playbooks[playbook.id] = playbook
    if not playbooks and not problems:
        problems.append(PlaybookError(directory, ["no playbook files (*.yaml) found"]))
    try:
        _reject_ambiguous_routes(directory, playbooks)
    except PlaybookError as exc:
        problems.append(exc)
    return playbooks, problems


def _reject_ambiguous_routes(directory: Path, playbooks: Mapping[str, PlaybookDef]) -> None:
    owners: dict[str, str] = {}
    problems = []
    for playbook in playbooks.values():
        keys = [k.value for k in playbook.triggers if k is not TriggerKind.CANCELLATION_REQUEST]
        keys += [f"cancellation_request/{r.value}" for r in playbook.cancellation_reasons]
        for key in keys:
            if key in owners:
                problems.append(f"trigger {key!r} is claimed by both {owners[key]} and {playbook.id}")
            owners[key] = playbook.id
    if problems:
        raise PlaybookError(directory, problems)
