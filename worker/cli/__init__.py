"""``saves``: the command line. Run ``saves --help`` for the list of commands.

Each module of this package holds a Typer app whose commands it declares with ``@app.command``; a
module named for a command group (``crm``, ``task``, ...) names its app, the others add top-level
commands. This package only puts them together, lazily: a command's module (and what it imports:
Temporal, SQLAlchemy, FastAPI, rich ...) is imported only when that command runs, so ``saves
--help`` and every command start fast. :data:`COMMANDS` lists each command's module and one-line
help; ``tests/test_cli_fast.py`` checks it against the modules.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import sys
from typing import Any, NoReturn

import typer
import typer.main
from typer._click.core import Command, Context  # typer's own copy of click
from typer._click.formatting import HelpFormatter
from typer.core import TyperGroup

COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("running", "Start everything on this machine: a Temporal dev server with its UI, the worker and the API."),
    "worker": ("running", "Run a worker against the configured Temporal cluster (production)."),
    "search-attributes": (
        "running",
        "Register the save search attributes on the configured namespace (idempotent).",
    ),
    "trigger": ("saves", "Report a risk signal: starts the account's save, or joins the one running."),
    "show": ("saves", "Where a save stands: stage, tasks, overdue items, escalations, commitments."),
    "root-cause": ("saves", "Record the root cause found with the five whys."),
    "flag-help": ("saves", "Ask another team for help: they get a task with a deadline and an escalation ladder."),
    "reassign": ("saves", "Hand the save (or one role's part of it) to another person; their open tasks move too."),
    "outcome": ("saves", "Record how the save ended."),
    "views": ("views", "The saved views for the Temporal UI, with today's dates: paste a query, then Save as New."),
    "list": ("views", "Saves filtered like the Temporal UI (same visibility query), most urgent first."),
    "accounts": ("accounts", "The CRM's accounts, largest ARR first: tier, owner, risk and whether a save is open."),
    "postmortem": (
        "postmortem",
        "The post-mortem of a save, running or closed: its timeline in plain words and key figures.",
    ),
    "report": (
        "postmortem",
        "The save-program report over every archived save: save rate by playbook, tier and time to first "
        "contact; commitments kept; relapse rate; ARR saved and lost.",
    ),
    "demo-history": (
        "postmortem",
        "Fill the archive with a season of past saves, so `saves report` has something to say.",
    ),
    "api": ("api", "Serve the HTTP API (triggers, saves, human actions) against the configured Temporal cluster."),
    "sign": ("api", "Print the Saves-Signature for a request body, signed with the configured webhook secret."),
    "crm": ("crm", "The CRM store: import accounts, set health, look at tasks and emails."),
    "task": ("tasks", "Tasks of a save."),
    "commitment": ("commitments", "Promises made to the customer."),
    "attention": (
        "attention",
        "Steps of a save that failed for good: list them, retry one after fixing the data, or skip it.",
    ),
    "playbooks": ("playbooks", "The playbook definitions."),
    "db": ("db", "The SQL store's schema: migrate it, see where it stands."),
    "keys": ("keys", "Payload encryption keys: make one, see which are in use."),
    "scan": ("scan", "The daily risk scan: schedule it, or run it now."),
    "triage": ("triage", "Triage of a save: red or dead zone; rescue, recover or farewell."),
}
"""Command name -> (module of ``worker.cli`` that declares it, its one-line help)."""


def _main() -> None:
    """Durable save playbooks for Customer Success teams, on Temporal."""


def module_command(module_name: str, name: str) -> Command:
    """The command ``name`` exactly as composing ``worker.cli.<module_name>`` into the app makes it."""
    module: Any = importlib.import_module(f"worker.cli.{module_name}")
    holder = typer.Typer(rich_markup_mode=None)  # as the app: a flag reads as a flag
    holder.add_typer(module.app)
    holder.callback()(_main)
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)
    found: Command | None = group.commands.get(name)
    if found is None:
        raise LookupError(f"worker.cli.{module_name} declares no command {name!r}")
    return found


class LazyGroup(TyperGroup):
    """Lists commands from :data:`COMMANDS`; imports a command's module only to run it."""

    def list_commands(self, ctx: Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in COMMANDS:
            return None
        return module_command(COMMANDS[cmd_name][0], cmd_name)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, _short(text, limit)) for name, (_, text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 3, 10)].rstrip() + "..."


class _Saves(typer.Typer):
    """The ``saves`` app: a bad option value reads as words, without pydantic's "Value error, " prefix."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            result = super().__call__(*args, **{**kwargs, "standalone_mode": False})
        except typer.BadParameter as exc:
            exc.message = exc.message.replace("Value error, ", "")
            exc.show()
            exit_process(exc.exit_code)
        except typer.exceptions.TyperException as exc:  # other usage errors, in click's own words
            show = getattr(exc, "show", None)
            if show is None:
                raise
            show()
            exit_process(int(getattr(exc, "exit_code", 2)))
        except typer.Abort:
            from worker.cli.common import err

            err.print("Aborted.")
            exit_process(1)
        exit_process(result if isinstance(result, int) else 0)


TEMPORAL_CORE_MODULE = "temporalio.bridge.temporal_sdk_bridge"


def exit_process(code: int) -> NoReturn:
    """End a ``saves`` command with ``code``.

    Once Temporal's core runtime is loaded its native threads hold Python thread states that the
    interpreter's own shutdown can trip over: now and then a command that had finished its work died
    at exit with "Fatal Python error: PyGILState_Release" and a non-zero code. So after the exit
    handlers ran (logs flushed, listeners stopped) such a process ends without finalizing Python.
    A command that never loaded Temporal exits normally.
    """
    if TEMPORAL_CORE_MODULE not in sys.modules:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can be said
            stream.flush()
    os._exit(code)


app = _Saves(
    cls=LazyGroup,
    help="Durable save playbooks for Customer Success teams, on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: a flag reads as a flag (rich help gives every bool a <bool>)
)

_OFFLINE = {"up", "playbooks", "sign", "crm", "db", "report", "demo-history", "accounts", "views", "keys"}
"""Commands that do not talk to a Temporal server (or, like ``up``, start their own)."""


@app.callback()
def _name_the_server(ctx: typer.Context) -> None:
    """Say which Temporal server a command talks to when it is not the default one."""
    if ctx.invoked_subcommand in _OFFLINE or ctx.resilient_parsing:
        return
    from worker.cli.common import err
    from worker.runtime.connect import ConnectionSettingsError, connect_options
    from worker.runtime.settings import DEFAULT_TEMPORAL_ADDRESS, Settings

    try:
        options = connect_options(Settings())
    except (ConnectionSettingsError, ValueError):
        return  # the command itself reports a broken setting
    if options.address != DEFAULT_TEMPORAL_ADDRESS or options.namespace != "default":
        err.print(f"Temporal: {options.address}, namespace {options.namespace}", highlight=False)


def eager_app() -> typer.Typer:
    """Every command imported and composed at once (what ``app`` was before it loaded lazily)."""
    full = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
    for module_name in dict.fromkeys(module for module, _ in COMMANDS.values()):
        module: Any = importlib.import_module(f"worker.cli.{module_name}")
        full.add_typer(module.app)
    return full


__all__ = ["COMMANDS", "app", "eager_app"]
