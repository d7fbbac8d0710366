"""The test command checks the code too: a backward import, a lint error, unformatted code or a
type error fails ``python -m pytest`` as it fails CI.

Each tool runs on this checkout (``PYTHONPATH`` points here, so an editable install elsewhere is
not what gets checked); a tool that is not installed skips with the command that installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHECKS = {
    "imports point one way (import-linter)": ["lint-imports"],
    "lint (ruff check)": ["ruff", "check", "."],
    "formatting (ruff format --check)": ["ruff", "format", "--check", "."],
    "types (mypy, strict)": ["mypy"],
}


@pytest.mark.parametrize("command", CHECKS.values(), ids=list(CHECKS))
def test_the_code_passes(command: list[str]) -> None:
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed: pip install -e '.[dev]'")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"`{' '.join(command)}` failed:\n{done.stdout}\n{done.stderr}"
