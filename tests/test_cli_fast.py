"""The command line loads a command's module only to run it; ``saves --help`` loads nothing heavy."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest
import typer.main
from typer.core import TyperGroup

from worker.cli import COMMANDS, eager_app
from worker.cli.common import READABLE_ERRORS, fail

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


def test_a_commands_flags_read_as_flags_in_its_help() -> None:
    shown = subprocess.run(
        [sys.executable, "-c", "from worker.cli import app; app()", "list", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert shown.returncode == 0, shown.stderr
    flags = {line.split()[0]: line.split()[1:2] for line in shown.stdout.splitlines() if line.startswith("  --")}
    for flag in ("--needs-attention", "--sla-broken", "--overdue", "--closed", "--query", "--help"):
        assert flags[flag] == [] or not flags[flag][0].startswith("<"), (flag, shown.stdout)
    assert "<bool>" not in shown.stdout


def test_reading_a_save_loads_neither_the_store_nor_the_importer_nor_the_mailer() -> None:
    """``saves show`` and the human actions only talk to Temporal; the SQL store is opened (and imported) only to
    tell a person that an account has no save."""
    probe = (
        "import sys, json\n"
        "import worker.cli.saves, worker.cli.tasks, worker.cli.commitments\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'jinja2')"
        " or m in ('activities.store.crm_import', 'activities.save_history', 'activities.mailer'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_every_error_the_cli_prints_as_one_line_is_named_right() -> None:
    """The CLI names these errors by module and class so it need not import them; a renamed class must fail here,
    not turn a one-line error into a traceback."""
    for module_name, names in READABLE_ERRORS.items():
        module = importlib.import_module(module_name)
        for name in names:
            assert issubclass(getattr(module, name), Exception), f"{module_name}.{name}"


def test_an_error_longer_than_the_terminal_is_still_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A long error (a playbook file's path, every problem's field) stays on one line: a log or a pipe gets
    it whole, and grep finds it by any of its words."""
    message = "product_issue.yaml: steps[7] (id 'root_cause').due_within: " + "too long " * 40
    exit_ = fail(message)
    assert exit_.exit_code == 2
    printed = capsys.readouterr().err
    assert printed.count("\n") == 1 and printed.startswith("error: product_issue.yaml") and len(printed) > 300
