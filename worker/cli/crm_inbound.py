"""``saves crm task done|reopen|delete``, ``saves crm log-call``, ``saves crm owner``, ``saves crm changes``:
the SQL CRM's user interface. They do what a CSM or a manager does in HubSpot or Salesforce, and the
saves hear of it the same way (see :mod:`activities.store.crm_inbound`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from activities.crm_errors import CrmError
from activities.store import crm_inbound
from activities.store.db import create_schema, make_engine
from activities.store.tables import CrmChange
from playbook_defs.vocabulary import OwnerRole
from worker.runtime.settings import Settings
from workflows.contracts import ChangesPage, TouchChannel

T = TypeVar("T")
out = Console()
err = Console(stderr=True)
task_app = typer.Typer(help="Act on a CRM task as a person in the CRM would.", no_args_is_help=True)

Key = Annotated[str, typer.Argument(help="The task's key (save-acme/task/call) or id (T-12, from saves crm tasks).")]
By = Annotated[str, typer.Option("--by", help="Who does it, as the CRM names them (Sam Ortiz).")]
At = Annotated[
    str | None, typer.Option("--at", help="When, ISO 8601 (2027-03-01T14:30+00:00; no zone = UTC). Default: now.")
]


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(2)


def _moment(value: str | None, option: str = "--at") -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _fail(f"{option}: {value!r} is not an ISO 8601 time (2027-03-01T14:30+00:00)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _run(change: Callable[..., Awaitable[T]], *args: object, **kwargs: object) -> T:
    async def work() -> T:
        engine = make_engine(Settings().db_url)
        try:
            await create_schema(engine)
            return await change(engine, *args, **kwargs)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(work())
    except CrmError as exc:
        raise _fail(str(exc)) from None


def _said(change: CrmChange) -> None:
    what = change.task_key or change.account_id
    out.print(f"{change.kind.replace('_', ' ')}: {what} at {change.at.isoformat()} (the saves hear of it next)")


@task_app.command("done")
def task_done(key: Key, by: By, at: At = None) -> None:
    """Mark a task done in the CRM; its save completes the task and stops escalating it."""
    _said(_run(crm_inbound.complete_task, key, by, _moment(at)))


@task_app.command("reopen")
def task_reopen(key: Key, by: By, at: At = None) -> None:
    """Open a task done in the CRM again."""
    _said(_run(crm_inbound.reopen_task, key, by, _moment(at)))


@task_app.command("delete")
def task_delete(key: Key, by: By, at: At = None) -> None:
    """Delete a task in the CRM; its save records it and shows it as needing attention."""
    _said(_run(crm_inbound.delete_task, key, by, _moment(at)))


def log_call(
    account: Annotated[str, typer.Argument(help="The account id.")],
    with_: Annotated[str, typer.Option("--with", help="The contact, by name or email (one of the account's).")],
    at: Annotated[str, typer.Option("--at", help="When it happened, ISO 8601 (no zone = UTC).")],
    by: Annotated[str | None, typer.Option("--by", help="Who made the call.")] = None,
    channel: Annotated[TouchChannel, typer.Option("--channel", help="call, meeting or email.")] = TouchChannel.CALL,
) -> None:
    """Log a call (meeting, email) with a customer contact; it counts as the save's first contact
    at the time it happened."""
    _said(_run(crm_inbound.log_touch, account, with_, _moment(at), channel, by))


def owner(
    account: Annotated[str, typer.Argument(help="The account id.")],
    role: Annotated[OwnerRole, typer.Argument(help="The role (csm, cs_manager, ...).")],
    owner_id: Annotated[str, typer.Argument(help="The new owner's id.")],
    name: Annotated[str, typer.Option("--name", help="The new owner's name.")],
    email: Annotated[str | None, typer.Option("--email", help="The new owner's email.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who reassigns it.")] = None,
) -> None:
    """Make someone the account's owner for a role, as a manager would in the CRM."""
    _said(_run(crm_inbound.change_owner, account, role, owner_id, name, email, by))


def changes(
    after: Annotated[str | None, typer.Option("--after", help="Only changes after this cursor.")] = None,
) -> None:
    """What people did in the SQL CRM, as the saves read it."""
    page: ChangesPage = _run(crm_inbound.changes_since, after)
    table = Table(title="CRM changes", title_justify="left")
    for column in ("at", "kind", "task or account", "by", "detail"):
        table.add_column(column)
    for e in page.events:
        detail = " ".join(x for x in (e.channel, e.contact, e.role, e.owner_name) if x)
        table.add_row(e.at.isoformat(), e.kind.value, e.task_key or e.account_id or "", e.by or "", detail)
    out.print(table)
    if page.cursor:
        out.print(f"cursor: {page.cursor}")


def sync(
    schedule: Annotated[
        bool, typer.Option("--schedule", help="Create or update the schedule (SAVES_CRM_SYNC_EVERY) instead.")
    ] = False,
) -> None:
    """Run the CRM reconciler now: tell the running saves what people did in the CRM."""
    from worker.runtime.connect import connect
    from worker.runtime.crm_sync import ensure_crm_sync_schedule, start_crm_sync_now

    settings = Settings()

    async def work() -> str:
        client = await connect(settings)
        if schedule:
            done = await ensure_crm_sync_schedule(client, settings.task_queue, settings.crm_sync_every)
            return f"schedule {done}: every {settings.crm_sync_every}"
        report = await (await start_crm_sync_now(client, settings.task_queue)).result()
        return (
            f"read {report.read} changes; {report.delivered} told to a running save, "
            f"{report.without_save} for accounts with none"
        )

    try:
        out.print(asyncio.run(work()))
    except RuntimeError as exc:
        raise _fail(f"cannot reach Temporal at {settings.temporal_address}: {exc}") from None


def register(crm_app: typer.Typer) -> None:
    crm_app.add_typer(task_app, name="task")
    crm_app.command("log-call")(log_call)
    crm_app.command("owner")(owner)
    crm_app.command("changes")(changes)
    crm_app.command("sync")(sync)
