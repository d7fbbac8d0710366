"""A broken playbook file fails at load time with an error naming the file and the field."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from playbook_defs.loader import PLAYBOOK_DIR, PlaybookError, load_playbook, load_playbooks
from playbook_defs.schema import PlaybookDef
from playbook_defs.vocabulary import OwnerRole

Edit = Callable[[dict[str, Any]], None]


def _step(data: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in data["steps"] if s["id"] == step_id)


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "product_issue.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def _edited(edit: Edit) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((PLAYBOOK_DIR / "product_issue.yaml").read_text())
    edit(data)
    return data


def test_every_bundled_playbook_loads() -> None:
    library = load_playbooks()
    assert sorted(library.playbooks) == [
        "budget",
        "champion_departure",
        "competitive_threat",
        "product_issue",
        "service_relationship",
        "value_roi",
    ]


@pytest.mark.parametrize(
    ("edit", "field", "words"),
    [
        (
            lambda d: _step(d, "consult_roadmap").update(owner="intern"),
            "steps[4] (id 'consult_roadmap').owner",
            "intern",
        ),
        (
            lambda d: _step(d, "alert_internal").update(template="no_such_template"),
            "steps[0] (id 'alert_internal').template",
            "no_such_template",
        ),
        (
            lambda d: _step(d, "consult_roadmap").update(due_within="two days"),
            "steps[4] (id 'consult_roadmap').due_within",
            "two days",
        ),
        (
            lambda d: _step(d, "consult_roadmap").update(due_within="-48h"),
            "steps[4] (id 'consult_roadmap').due_within",
            "negative",
        ),
        (
            lambda d: d["steps"].append(dict(_step(d, "consult_roadmap"))),
            "steps",
            "duplicate step id 'consult_roadmap'",
        ),
        (lambda d: _step(d, "save_plan").update(depends_on=["no_such_step"]), "depends_on", "no_such_step"),
        (lambda d: d.update(steps=[]), "steps", ""),
    ],
)
def test_a_broken_playbook_names_the_file_and_the_field(tmp_path: Path, edit: Edit, field: str, words: str) -> None:
    path = _write(tmp_path, _edited(edit))
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    message = str(caught.value)
    assert message.startswith("product_issue.yaml: ")
    assert field in message and words in message, message


@pytest.mark.parametrize("content", ["", "# only a comment\n", "- just\n- a list\n", "steps: [\n"])
def test_an_empty_or_unreadable_file_is_refused(tmp_path: Path, content: str) -> None:
    with pytest.raises(PlaybookError) as caught:
        load_playbook(_write(tmp_path, content))
    assert str(caught.value).startswith("product_issue.yaml: ")


def test_one_bad_file_stops_the_whole_library_from_loading(tmp_path: Path) -> None:
    shutil.copytree(PLAYBOOK_DIR, tmp_path / "playbooks", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    bad = tmp_path / "playbooks" / "budget.yaml"
    bad.write_text(bad.read_text().replace("due_within: 24h", "due_within: soon", 1))
    with pytest.raises(PlaybookError, match=r"^budget\.yaml: .*due_within"):
        load_playbooks(tmp_path / "playbooks")


def test_a_step_that_inherits_an_escalation_to_its_own_owner_is_refused(tmp_path: Path) -> None:
    # consult_roadmap has no ladder of its own: with a CS manager as its owner, product_issue's
    # default_escalation (CS manager at once, then the executive sponsor) would tell the owner
    # that the owner is late.
    path = _write(tmp_path, _edited(lambda d: _step(d, "consult_roadmap").update(owner="cs_manager")))
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    message = str(caught.value)
    assert message.startswith("product_issue.yaml: steps[4] (id 'consult_roadmap').escalation: not set, ")
    assert "default_escalation, whose level 1 escalates to cs_manager, the step's own owner" in message
    assert "give the step an escalation ladder to someone else (e.g. head_of_cs)" in message


def test_a_recovery_check_that_inherits_an_escalation_to_its_own_owner_is_refused(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["recovery"]["checks"][0]["owner"] = "executive_sponsor"
        d["recovery"]["checks"][0].pop("escalation", None)

    with pytest.raises(PlaybookError) as caught:
        load_playbook(_write(tmp_path, _edited(edit)))
    message = str(caught.value)
    assert "recovery.checks[0] (id 'check_in_30').escalation: not set" in message
    assert "whose level 2 escalates to executive_sponsor, the recovery check's own owner" in message


def test_a_save_started_on_such_a_playbook_still_reads_its_playbook() -> None:
    # A running save carries its playbook in its history; the refusal is the loader's, so a save
    # started before it still replays and continues as new with the playbook it started with.
    data = _edited(lambda d: _step(d, "consult_roadmap").update(owner="cs_manager"))
    old = PlaybookDef.model_validate(data)
    assert old.ladder(old.step("consult_roadmap"))[0].to is OwnerRole.CS_MANAGER
    assert PlaybookDef.model_validate_json(old.model_dump_json()) == old


def test_no_bundled_step_escalates_to_its_own_owner() -> None:
    for playbook in load_playbooks().playbooks.values():
        for step in playbook.steps:
            assert all(level.to is not step.owner for level in playbook.ladder(step)), (playbook.id, step.id)
        for check in playbook.recovery.checks:
            ladder = check.escalation if check.escalation is not None else playbook.default_escalation
            assert all(level.to is not check.owner for level in ladder), (playbook.id, check.id)
