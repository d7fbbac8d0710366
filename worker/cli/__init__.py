"""``saves``: the command line. Run ``saves --help`` for the list of commands.

Each module of this package holds a Typer app whose commands it declares with ``@app.command``; a
module named for a command group (``crm``, ``task``, ...) names its app, the others add top-level
commands. This package only puts them together.
"""

from __future__ import annotations

import typer

from worker.cli import (
    api,
    commitments,
    crm,
    db,
    keys,
    playbooks,
    postmortem,
    running,
    saves,
    scan,
    tasks,
    triage,
    views,
)

app = typer.Typer(
    help="Durable save playbooks for Customer Success teams, on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for module in (running, saves, views, postmortem, api, crm, tasks, commitments, playbooks, db, keys, scan, triage):
    app.add_typer(module.app)

__all__ = ["app"]
