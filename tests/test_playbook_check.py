"""``saves playbooks check`` covers everything the worker loads, and no ``saves playbooks``
command answers a broken file with a traceback."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from playbook_defs.loader import PLAYBOOK_DIR
from worker.cli import app

Break = Callable[[Path], object]


def _edit_yaml(path: Path, edit: Callable[[dict[str, Any]], object]) -> None:
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _step(data: dict[str, Any], step_id: str) -> dict[str, Any]:
    step: dict[str, Any] = next(s for s in data["steps"] if s["id"] == step_id)
    return step


def _due_within(playbooks: Path, value: str) -> None:
    _edit_yaml(playbooks / "product_issue.yaml", lambda y: _step(y, "root_cause").update(due_within=value))


def _alias_bomb(path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, 10):
        lines.append(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]")
    text = path.read_text().replace("triggers: [product_gap, support_escalation]", "triggers: *a9")
    path.write_text("\n".join(lines) + "\n" + text)


BROKEN: dict[str, tuple[Break, list[str]]] = {
    "a duration of 10^11 days": (
        lambda d: _edit_yaml(
            d / "product_issue.yaml", lambda y: _step(y, "root_cause").update(due_within="99999999999d")
        ),
        ["product_issue.yaml", "due_within", "5 years"],
    ),
    "a duration of 10^9 days": (
        lambda d: _edit_yaml(
            d / "product_issue.yaml", lambda y: _step(y, "root_cause").update(due_within="999999999d")
        ),
        ["product_issue.yaml", "due_within", "5 years"],
    ),
    "a directory named x.yaml": (lambda d: (d / "x.yaml").mkdir(), ["x.yaml", "directory"]),
    "escalation of a role to itself": (
        lambda d: _edit_yaml(
            d / "product_issue.yaml",
            lambda y: _step(y, "root_cause").update(escalation=[{"after": "0h", "to": "csm"}]),
        ),
        ["product_issue.yaml", "root_cause", "escalation", "csm"],
    ),
    "a step without a ladder whose default escalates it to its own owner": (
        lambda d: _edit_yaml(
            d / "product_issue.yaml", lambda y: _step(y, "consult_roadmap").update(owner="cs_manager")
        ),
        ["product_issue.yaml", "consult_roadmap", "escalation", "default_escalation", "cs_manager", "own owner"],
    ),
    "a YAML alias bomb in triggers": (lambda d: _alias_bomb(d / "product_issue.yaml"), ["product_issue.yaml", "alias"]),
    "broken triage rules": (
        lambda d: (d / "rules" / "triage.yaml").write_text("zones: [oops\n"),
        ["triage.yaml", "YAML"],
    ),
    "triage rules with a bad field": (
        lambda d: _edit_yaml(d / "rules" / "triage.yaml", lambda y: y.update(version="soon")),
        ["triage.yaml", "version"],
    ),
    "broken risk rules": (
        lambda d: (d / "rules" / "risk_rules.yaml").write_text("- just\n- a list\n"),
        ["risk_rules.yaml", "mapping"],
    ),
    "a template with a syntax error": (
        lambda d: (d / "templates" / "weekly_update.j2").write_text(
            "{% block subject %}Hi{% endblock %}{% block body %}{{ account.name {% endblock %}"
        ),
        ["weekly_update.j2", "line 1"],
    ),
    "a template without a subject block": (
        lambda d: (d / "templates" / "farewell.j2").write_text(
            "{% block body %}Bye {{ recipient.name }}{% endblock %}"
        ),
        ["farewell.j2", "subject"],
    ),
}


@pytest.fixture
def playbooks(tmp_path: Path) -> Path:
    target = tmp_path / "playbooks"
    shutil.copytree(PLAYBOOK_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def _run(args: list[str], playbooks: Path) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, args, env={"SAVES_PLAYBOOK_DIR": str(playbooks), "COLUMNS": "200"})
    return result.exit_code, result.output, result.exception


def test_the_bundled_files_pass_the_check(playbooks: Path) -> None:
    code, output, _ = _run(["playbooks", "check"], playbooks)
    assert code == 0, output
    assert "ok  triage rules" in output and "ok  risk rules" in output and "email templates" in output


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", list(BROKEN))
def test_the_check_names_the_file_and_field_of_every_broken_file(playbooks: Path, case: str) -> None:
    breaks, words = BROKEN[case]
    breaks(playbooks)
    code, output, exc = _run(["playbooks", "check"], playbooks)
    assert code == 2, (case, output)
    assert exc is None or isinstance(exc, SystemExit), exc
    assert "Traceback" not in output
    for word in words:
        assert word in output, (case, word, output)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "case", ["a duration of 10^11 days", "a directory named x.yaml", "a YAML alias bomb in triggers"]
)
def test_listing_broken_playbooks_gives_a_message_not_a_traceback(playbooks: Path, case: str) -> None:
    BROKEN[case][0](playbooks)
    code, output, exc = _run(["playbooks", "list"], playbooks)
    assert code == 2, output
    assert exc is None or isinstance(exc, SystemExit), exc
    assert "error:" in output and "saves playbooks check" in output


@pytest.mark.timeout(30)
def test_the_check_lists_every_broken_file_not_only_the_first(playbooks: Path) -> None:
    """Three files broken three ways: one check names all three, each on its own line, and still
    says which playbooks are fine."""
    _due_within(playbooks, "99999999999d")
    (playbooks / "budget.yaml").write_text("steps: [oops\n")
    _edit_yaml(playbooks / "value_roi.yaml", lambda y: y.update(version="soon"))
    code, output, _ = _run(["playbooks", "check"], playbooks)
    assert code == 2, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 3, output
    assert "budget.yaml" in errors[0] and "YAML" in errors[0]
    assert "product_issue.yaml" in errors[1] and "due_within" in errors[1]
    assert "value_roi.yaml" in errors[2] and "version" in errors[2]
    assert "ok  champion_departure" in output and "ok  product_issue" not in output
