"""Playbooks and triage rules are parsed once per worker, and again only when their files change."""

from __future__ import annotations

import shutil
from pathlib import Path

from activities.definitions import Definitions
from playbook_defs.loader import PLAYBOOK_DIR


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "defs"
    shutil.copytree(PLAYBOOK_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


async def test_unchanged_files_are_not_parsed_again(tmp_path: Path) -> None:
    defs = Definitions(_copy(tmp_path))
    first, rules = await defs.library(), await defs.triage()
    assert await defs.library() is first
    assert await defs.triage() is rules


async def test_an_edited_playbook_is_parsed_again(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    defs = Definitions(directory)
    before = (await defs.library()).get("budget")
    path = directory / "budget.yaml"
    path.write_text(path.read_text().replace("version: 1", "version: 2", 1))
    after = (await defs.library()).get("budget")
    assert (before.version, after.version) == (1, 2)
    assert before.digest != after.digest
