"""The command line loads a command's module only to run it; ``saves --help`` loads nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys

import typer.main
from typer.core import TyperGroup

from worker.cli import COMMANDS, eager_app

HEAVY = ("fastapi", "uvicorn", "rich", "sqlalchemy", "temporalio", "pydantic", "activities.store.crm_import")


def test_the_command_list_matches_the_modules() -> None:
    group = typer.main.get_command(eager_app())
    assert isinstance(group, TyperGroup)
    declared = {name: command.get_short_help_str(limit=1000) for name, command in group.commands.items()}
    listed = {name: text for name, (_, text) in COMMANDS.items()}
    assert listed == declared, "update worker.cli.COMMANDS: a command was added, renamed or its help changed"


def test_help_imports_no_heavy_module() -> None:
    probe = (
        "import sys, json\n"
        "from worker.cli import app\n"
        "sys.argv = ['saves', '--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    *_, last = done.stdout.strip().splitlines()
    assert json.loads(last) == []
    assert "trigger" in done.stdout and "Report a risk signal" in done.stdout
