"""``saves``: the command line. Run ``saves --help`` for the list of commands.

Each module of this package holds a Typer app whose commands it declares with ``@app.command``; a
module named for a command group (``crm``, ``task``, ...) names its app, the others add top-level
commands. This package only puts them together.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from worker.cli import (
    accounts,
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
from worker.cli.common import err
from worker.runtime.connect import ConnectionSettingsError, connect_options
from worker.runtime.settings import DEFAULT_TEMPORAL_ADDRESS, Settings


class _Saves(typer.Typer):
    """The ``saves`` app: a bad option value reads as words, without pydantic's "Value error, " prefix."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            result = super().__call__(*args, **{**kwargs, "standalone_mode": False})
        except typer.BadParameter as exc:
            exc.message = exc.message.replace("Value error, ", "")
            exc.show()
            sys.exit(exc.exit_code)
        except typer.exceptions.TyperException as exc:  # other usage errors, in click's own words
            show = getattr(exc, "show", None)
            if show is None:
                raise
            show()
            sys.exit(int(getattr(exc, "exit_code", 2)))
        except typer.Abort:
            err.print("Aborted.")
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


app = _Saves(
    help="Durable save playbooks for Customer Success teams, on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: a flag reads as a flag (rich help gives every bool a <bool>)
)
for module in (
    running,
    saves,
    views,
    accounts,
    postmortem,
    api,
    crm,
    tasks,
    commitments,
    playbooks,
    db,
    keys,
    scan,
    triage,
):
    app.add_typer(module.app)

_OFFLINE = {"up", "playbooks", "sign", "crm", "db", "report", "demo-history", "accounts", "views", "keys"}
"""Commands that do not talk to a Temporal server (or, like ``up``, start their own)."""


@app.callback()
def _name_the_server(ctx: typer.Context) -> None:
    """Say which Temporal server a command talks to when it is not the default one."""
    if ctx.invoked_subcommand in _OFFLINE or ctx.resilient_parsing:
        return
    try:
        options = connect_options(Settings())
    except (ConnectionSettingsError, ValueError):
        return  # the command itself reports a broken setting
    if options.address != DEFAULT_TEMPORAL_ADDRESS or options.namespace != "default":
        err.print(f"Temporal: {options.address}, namespace {options.namespace}", highlight=False)


__all__ = ["app"]
