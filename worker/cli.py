"""``saves``: the command line. Run ``saves --help`` for the list of commands."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from activities.store.crm_import import CrmImportError, import_crm, read_crm_file
from activities.store.db import create_schema, make_engine
from activities.store.sql_crm import SqlCrm
from playbook_defs.durations import Duration
from playbook_defs.errors import describe
from playbook_defs.loader import PlaybookError, load_playbooks
from playbook_defs.vocabulary import (
    CancellationReason,
    OutcomeKind,
    OwnerRole,
    RootCauseCategory,
    TriggerKind,
)
from worker import cli_api, cli_scan
from worker.api.embedded import start_api
from worker.cli_db import db_app
from worker.cli_list import list_command, views_command
from worker.connect import ConnectionSettingsError, connect
from worker.crm_choice import CrmSettingsError, make_crm
from worker.demo import load_demo_crm, start_demo_saves
from worker.devserver import DevServer, DevServerError
from worker.logs import configure_logging
from worker.runner import build_services, build_worker
from worker.save_client import SaveClient, SaveError, new_trigger_id
from worker.schedule import ensure_scan_schedule
from worker.settings import Settings
from worker.visibility import register_search_attributes
from workflows.models import (
    AddCommitment,
    CompleteTask,
    FlagHelp,
    FulfilCommitment,
    ReassignOwner,
    RecordOutcome,
    RecordRootCause,
    SaveState,
    Trigger,
)
from workflows.rules import when
from workflows.save import SaveWorkflow
from workflows.why import why_started

T = TypeVar("T")

app = typer.Typer(
    help="Durable save playbooks for Customer Success teams, on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
crm_app = typer.Typer(
    help="The CRM store: import accounts, set health, look at tasks and emails.", no_args_is_help=True
)
task_app = typer.Typer(help="Tasks of a save.", no_args_is_help=True)
commitment_app = typer.Typer(help="Promises made to the customer.", no_args_is_help=True)
playbooks_app = typer.Typer(help="The playbook definitions.", no_args_is_help=True)
app.add_typer(crm_app, name="crm")
app.add_typer(task_app, name="task")
app.add_typer(commitment_app, name="commitment")
app.add_typer(playbooks_app, name="playbooks")
app.add_typer(db_app, name="db")
app.command("list")(list_command)
app.command("views")(views_command)
app.add_typer(cli_scan.scan_app, name="scan")
app.add_typer(cli_scan.triage_app, name="triage")
cli_api.register(app)

out = Console()
err = Console(stderr=True)

Account = Annotated[str, typer.Argument(help="The account id, as in the CRM.")]
By = Annotated[str | None, typer.Option("--by", help="Who is doing this (recorded on the save).")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def _run(work: Awaitable[T]) -> T:
    """Run a coroutine; turn the errors a person can act on into one line and an exit code."""
    try:
        return asyncio.run(work)  # type: ignore[arg-type]
    except SaveError as exc:
        raise _fail(str(exc)) from None
    except ValidationError as exc:
        raise _fail("; ".join(describe(exc, None))) from None
    except (PlaybookError, CrmImportError, DevServerError, ConnectionSettingsError, CrmSettingsError) as exc:
        raise _fail(str(exc)) from None
    except RuntimeError as exc:
        if "Failed client connect" in str(exc) or "connection" in str(exc).lower():
            settings = Settings()
            raise _fail(
                f"cannot reach Temporal at {settings.temporal_address}; "
                "start it with `saves up` or set SAVES_TEMPORAL_ADDRESS",
                1,
            ) from None
        raise


@asynccontextmanager
async def _saves(settings: Settings | None = None) -> AsyncIterator[SaveClient]:
    settings = settings or Settings()
    engine = make_engine(settings.db_url)
    try:
        await create_schema(engine)
        client = await connect(settings)
        yield SaveClient(
            client, settings.task_queue, load_playbooks(settings.playbook_dir), make_crm(settings, SqlCrm(engine))
        )
    finally:
        await engine.dispose()


async def _act(account: str, update: Any, request: Any) -> Any:
    async with _saves() as saves:
        return await saves.update(account, update, request)


# --- running -------------------------------------------------------------------------------------


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="Load the demo CRM and open a save of each playbook.")] = False,
    port: Annotated[int, typer.Option(help="Temporal gRPC port of the embedded server.")] = 7233,
) -> None:
    """Start everything on this machine: a Temporal dev server with its UI, the worker and the API."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level, log_file=settings.data_dir / "saves.log")
    _run(_up(settings, demo, port))


async def _up(settings: Settings, demo: bool, port: int) -> None:
    server = DevServer(settings.data_dir, port=port, ui_port=settings.ui_port)
    out.print(f"Starting Temporal (state in {settings.data_dir / 'temporal.db'}) ...")
    await server.start()
    settings = settings.model_copy(update={"temporal_address": server.address})
    services = None
    try:
        client = await connect(settings)
        await register_search_attributes(client)
        await ensure_scan_schedule(client, settings.task_queue, settings.playbook_dir)
        services = await build_services(settings)
        worker = build_worker(client, settings.task_queue, services.activities())
        saves = SaveClient(
            client, settings.task_queue, load_playbooks(settings.playbook_dir), services.crm_activities.crm
        )
        async with worker, start_api(settings, saves, services.engine, out) as api_url:
            out.print("[bold green]Saves are running.[/bold green]")
            out.print(
                f"  Temporal UI: {server.ui_url}/namespaces/{settings.temporal_namespace}/workflows", soft_wrap=True
            )
            out.print(f"  API: {api_url} (OpenAPI docs at {api_url}/docs)", soft_wrap=True)
            out.print("Filter it with the queries from `saves views` (e.g. saves past the 48-hour rule).")
            if demo:
                await load_demo_crm(services.engine)
                done = await start_demo_saves(saves)
                out.print(f"Demo: six saves open ({len(done)} moved along). Try: saves show northwind")
            out.print(f"Logs: {settings.data_dir / 'saves.log'}. Press Ctrl-C to stop.")
            await _until_stopped()
            out.print("Stopping ...")
    finally:
        if services is not None:
            await services.engine.dispose()
        server.stop()


@app.command()
def worker() -> None:
    """Run a worker against the configured Temporal cluster (production)."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    _run(_worker(settings))


async def _worker(settings: Settings) -> None:
    client = await connect(settings)
    try:
        await register_search_attributes(client)
    except Exception as exc:  # e.g. Temporal Cloud: registered in the cloud console instead
        err.print(
            f"note: could not register search attributes ({exc}); run `saves search-attributes` with an admin identity"
        )
    services = await build_services(settings)
    try:
        async with build_worker(client, settings.task_queue, services.activities()):
            out.print(
                f"Worker polling task queue {settings.task_queue!r} on "
                f"{client.service_client.config.target_host} ({client.namespace})"
            )
            await _until_stopped()
    finally:
        await services.engine.dispose()


@app.command("search-attributes")
def search_attributes() -> None:
    """Register the save search attributes on the configured namespace (idempotent)."""

    async def work() -> list[str]:
        return await register_search_attributes(await connect(Settings()))

    added = _run(work())
    out.print(f"registered: {', '.join(added)}" if added else "all search attributes already registered")


# --- triggering and reading ----------------------------------------------------------------------


def _signals(values: list[str]) -> dict[str, float | int | str | bool]:
    parsed: dict[str, float | int | str | bool] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise _fail(f"--signal {item!r}: write it as name=value")
        try:
            parsed[key] = json.loads(raw)
        except json.JSONDecodeError:
            parsed[key] = raw
    return parsed


@app.command()
def trigger(
    account: Account,
    kind: Annotated[TriggerKind, typer.Option(help="What kind of risk signal this is.")],
    reason: Annotated[
        CancellationReason | None,
        typer.Option(
            help="For a cancellation request (or a manual trigger): the stated reason; it picks the playbook.",
        ),
    ] = None,
    playbook: Annotated[str | None, typer.Option(help="Run this playbook instead of the routed one.")] = None,
    note: Annotated[str, typer.Option(help="What happened, in a sentence.")] = "",
    signal_value: Annotated[
        list[str] | None, typer.Option("--signal", help="A signal value as name=value, e.g. usage_pct=31. Repeatable.")
    ] = None,
    trigger_id: Annotated[str | None, typer.Option("--id", help="Event id; a repeated id is ignored.")] = None,
    source: Annotated[str, typer.Option(help="Where the signal came from.")] = "cli",
    rule: Annotated[str | None, typer.Option(help="The detection rule that fired.")] = None,
    rule_version: Annotated[str | None, typer.Option(help="The version of that rule.")] = None,
    by: By = None,
) -> None:
    """Report a risk signal: starts the account's save, or joins the one running."""
    request = Trigger(
        trigger_id=trigger_id or new_trigger_id(),
        account_id=account,
        kind=kind,
        reason=reason,
        playbook=playbook,
        source=source,
        note=note,
        signals=_signals(signal_value or []),
        reported_by=by,
        rule=rule,
        rule_version=rule_version,
        observed_at=datetime.now(UTC),
    )

    async def work() -> Any:
        async with _saves() as saves:
            return await saves.trigger(request)

    result = _run(work())
    verb = "joined the running save" if result.merged else "started a save"
    out.print(f"{account}: {verb} ({result.playbook}), workflow {result.workflow_id}")


@app.command()
def show(
    account: Account,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole state as JSON.")] = False,
) -> None:
    """Where a save stands: stage, tasks, overdue items, escalations, commitments."""

    async def work() -> tuple[SaveState, str]:
        async with _saves() as saves:
            return await saves.state(account), await saves.details(account)

    state, details = _run(work())
    if as_json:
        sys.stdout.write(state.model_dump_json(indent=2) + "\n")
        return
    out.print(Markdown(details))
    table = Table(title="Tasks", title_justify="left")
    for column in ("id", "title", "owner", "status", "due", "done"):
        table.add_column(column)
    for task in state.tasks.values():
        status = task.status.value + (" (overdue)" if task.overdue and task.is_active else "")
        table.add_row(
            task.id,
            task.title,
            task.owner.value,
            status,
            when(task.due_at) if task.due_at else "",
            when(task.done_at) if task.done_at else "",
        )
    out.print(table)
    out.print(
        f"Triggers: {', '.join(r.trigger.kind.value for r in state.triggers)} · "
        f"emails sent {state.emails_sent} · run {state.run_number}",
        highlight=False,
    )
    out.print(f"Why it started: {why_started(state.triggers[0])}", highlight=False)


# --- human actions -------------------------------------------------------------------------------


@task_app.command("complete")
def task_complete(
    account: Account,
    task_id: Annotated[str, typer.Argument(help="The task id, as `saves show` lists it.")],
    note: Annotated[str, typer.Option(help="What was done.")] = "",
    reject: Annotated[bool, typer.Option(help="For an approval task: reject the concession.")] = False,
    by: By = None,
) -> None:
    """Mark a task done; its escalation ladder stops."""
    task = _run(
        _act(account, SaveWorkflow.complete_task, CompleteTask(task_id=task_id, by=by, note=note, approved=not reject))
    )
    out.print(f"{task.id}: done")


def _due(value: str) -> dict[str, Any]:
    try:
        return {"due_in": TypeAdapter(Duration).validate_python(value)}
    except ValidationError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"--due {value!r}: give a duration like 5d or a date like 2027-01-15") from None
    return {"due_at": moment if moment.tzinfo else moment.replace(tzinfo=UTC)}


@commitment_app.command("add")
def commitment_add(
    account: Account,
    what: Annotated[str, typer.Argument(help="The promise, as the customer heard it.")],
    owner: Annotated[OwnerRole, typer.Option(help="Who must deliver it.")],
    due: Annotated[str, typer.Option(help="When: a duration (5d) or a date (2027-01-15).")],
    discount: Annotated[float | None, typer.Option(help="Discount percentage, if this is one.")] = None,
    by: By = None,
) -> None:
    """Record a promise made to the customer; it is tracked and escalated if late."""
    c = _run(
        _act(
            account,
            SaveWorkflow.add_commitment,
            AddCommitment(what=what, owner=owner, discount_pct=discount, by=by, **_due(due)),
        )
    )
    extra = " (waiting for approval)" if c.status.value == "awaiting_approval" else ""
    out.print(f"{c.id}: {c.what}, due {when(c.due_at)}{extra}")


@commitment_app.command("fulfil")
def commitment_fulfil(
    account: Account,
    commitment_id: Annotated[str, typer.Argument(help="The commitment id (c1, c2, ...).")],
    note: Annotated[str, typer.Option(help="How it was delivered.")] = "",
    by: By = None,
) -> None:
    """Mark a commitment delivered."""
    c = _run(
        _act(account, SaveWorkflow.fulfil_commitment, FulfilCommitment(commitment_id=commitment_id, by=by, note=note))
    )
    out.print(f"{c.id}: {'kept' if c.kept else 'delivered late'}")


@app.command("root-cause")
def root_cause(
    account: Account,
    why: Annotated[list[str], typer.Option(help="One answer of the five whys. Repeat, in order.")],
    category: Annotated[RootCauseCategory, typer.Option(help="What the root cause is about.")],
    summary: Annotated[str, typer.Option(help="The root cause in one sentence.")],
    by: By = None,
) -> None:
    """Record the root cause found with the five whys."""
    _run(
        _act(
            account,
            SaveWorkflow.record_root_cause,
            RecordRootCause(whys=why, category=category, summary=summary, by=by),
        )
    )
    out.print("root cause recorded")


@app.command("flag-help")
def flag_help(
    account: Account,
    role: Annotated[OwnerRole, typer.Option(help="The team whose help is needed.")],
    what: Annotated[str, typer.Option(help="What you need from them.")],
    by: By = None,
) -> None:
    """Ask another team for help: they get a task with a deadline and an escalation ladder."""
    h = _run(_act(account, SaveWorkflow.flag_help, FlagHelp(role=role, what=what, by=by)))
    out.print(f"help requested from {h.role.value} (task {h.task_id})")


@app.command()
def reassign(
    account: Account,
    owner_id: Annotated[str, typer.Option("--owner-id", help="The new owner's id in the CRM.")],
    name: Annotated[str, typer.Option(help="The new owner's name.")],
    email: Annotated[str | None, typer.Option(help="The new owner's email.")] = None,
    role: Annotated[OwnerRole, typer.Option(help="Which role changes hands.")] = OwnerRole.CSM,
    reason: Annotated[str, typer.Option(help="Why, in a sentence.")] = "",
    by: By = None,
) -> None:
    """Hand the save (or one role's part of it) to another person; their open tasks move too."""
    change = _run(
        _act(
            account,
            SaveWorkflow.reassign_owner,
            ReassignOwner(role=role, owner_id=owner_id, name=name, email=email, reason=reason, by=by),
        )
    )
    out.print(f"{change.role.value}: {change.previous or 'nobody'} -> {change.name}")


@app.command()
def outcome(
    account: Account,
    kind: Annotated[OutcomeKind, typer.Argument(help="saved, partially_saved or lost.")],
    reason: Annotated[str, typer.Option(help="Why, in a sentence.")],
    arr_retained: Annotated[float | None, typer.Option(help="ARR kept (partially saved).")] = None,
    met: Annotated[list[str] | None, typer.Option(help="A success criterion met. Repeatable.")] = None,
    by: By = None,
) -> None:
    """Record how the save ended. Saved starts the 90-day recovery; lost starts the exit."""
    o = _run(
        _act(
            account,
            SaveWorkflow.record_outcome,
            RecordOutcome(kind=kind, reason=reason, arr_retained=arr_retained, criteria_met=met or [], by=by),
        )
    )
    out.print(f"outcome {o.kind.value}; criteria met: {', '.join(o.criteria_met) or 'none'}")


# --- the CRM store -------------------------------------------------------------------------------


@crm_app.command("import")
def crm_import(file: Annotated[Path, typer.Argument(help="A YAML or JSON file of team and accounts.")]) -> None:
    """Load accounts, owners and contacts (an upsert: existing accounts are updated)."""
    try:
        crm = read_crm_file(file)
    except CrmImportError as exc:
        raise _fail(str(exc)) from None

    async def work() -> int:
        engine = make_engine(Settings().db_url)
        try:
            await create_schema(engine)
            return await import_crm(engine, crm)
        finally:
            await engine.dispose()

    count = _run(work())
    out.print(f"imported {count} accounts")


@crm_app.command("health")
def crm_health(
    account: Account,
    score: Annotated[int, typer.Argument(min=0, max=100, help="Health score, 0-100.")],
    usage: Annotated[float | None, typer.Option(help="Usage percentage.")] = None,
) -> None:
    """Record a new health score for an account, as a CRM sync would."""

    async def work() -> None:
        engine = make_engine(Settings().db_url)
        try:
            await SqlCrm(engine).set_health(account, score, datetime.now(UTC), usage)
        except KeyError as exc:
            raise SaveError(exc.args[0]) from None
        finally:
            await engine.dispose()

    _run(work())
    out.print(f"{account}: health {score}")


def _crm_table(title: str, rows: list[Any], columns: dict[str, Callable[[Any], Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name)
    for row in rows:
        table.add_row(*[str(get(row) or "") for get in columns.values()])
    out.print(table)


@crm_app.command("tasks")
def crm_tasks(account: Annotated[str | None, typer.Argument(help="Only this account.")] = None) -> None:
    """CRM tasks the saves created."""

    async def work() -> list[Any]:
        engine = make_engine(Settings().db_url)
        try:
            return await SqlCrm(engine).tasks(account)
        finally:
            await engine.dispose()

    _crm_table(
        "CRM tasks",
        _run(work()),
        {
            "id": lambda t: f"T-{t.id}",
            "account": lambda t: t.account_id,
            "owner": lambda t: t.owner_role,
            "title": lambda t: t.title,
            "due": lambda t: when(t.due_at),
            "status": lambda t: t.status,
        },
    )


@crm_app.command("outbox")
def crm_outbox(account: Annotated[str | None, typer.Argument(help="Only this account.")] = None) -> None:
    """Emails the saves sent (or recorded, without SMTP)."""
    from activities.store.outbox import Outbox

    async def work() -> list[Any]:
        engine = make_engine(Settings().db_url)
        try:
            return await Outbox(engine).emails(account)
        finally:
            await engine.dispose()

    _crm_table(
        "Outbox",
        _run(work()),
        {
            "account": lambda e: e.account_id,
            "template": lambda e: e.template,
            "to": lambda e: e.to_address,
            "subject": lambda e: e.subject,
            "status": lambda e: e.status,
            "at": lambda e: when(e.created_at),
        },
    )


@playbooks_app.command("check")
def playbooks_check(
    directory: Annotated[Path | None, typer.Argument(help="Directory of playbook YAML files.")] = None,
) -> None:
    """Validate every playbook file; errors name the file and the field."""
    try:
        library = load_playbooks(directory or Settings().playbook_dir)
    except PlaybookError as exc:
        raise _fail(str(exc)) from None
    for p in library.playbooks.values():
        out.print(f"ok  {p.id} v{p.version} ({len(p.steps)} steps, digest {p.digest})")


@playbooks_app.command("list")
def playbooks_list() -> None:
    """The playbooks and the triggers each one answers."""
    library = load_playbooks(Settings().playbook_dir)
    table = Table(title="Playbooks", title_justify="left")
    for column in ("id", "name", "version", "triggers", "cancellation reasons"):
        table.add_column(column)
    for p in library.playbooks.values():
        table.add_row(
            p.id,
            p.name,
            str(p.version),
            ", ".join(t.value for t in p.triggers),
            ", ".join(r.value for r in p.cancellation_reasons),
        )
    out.print(table)


from worker.cli_postmortem import register as _register_postmortem  # noqa: E402

_register_postmortem(app)


if __name__ == "__main__":
    app()
