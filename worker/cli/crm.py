"""``saves crm``: the CRM store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from activities.store.crm_import import CrmImportError, import_crm, read_crm_file
from activities.store.db import create_schema, make_engine
from activities.store.sql_crm import SqlCrm
from worker.cli import crm_inbound
from worker.cli.common import Account, fail, out, run
from worker.runtime.save_client import SaveError
from worker.runtime.settings import Settings
from workflows.rules import when

app = typer.Typer(
    name="crm", help="The CRM store: import accounts, set health, look at tasks and emails.", no_args_is_help=True
)


@app.command("import")
def crm_import(file: Annotated[Path, typer.Argument(help="A YAML or JSON file of team and accounts.")]) -> None:
    """Load accounts, owners and contacts (an upsert: existing accounts are updated)."""
    try:
        crm = read_crm_file(file)
    except CrmImportError as exc:
        raise fail(str(exc)) from None

    async def work() -> int:
        engine = make_engine(Settings().db_url)
        try:
            await create_schema(engine)
            return await import_crm(engine, crm)
        finally:
            await engine.dispose()

    count = run(work())
    out.print(f"imported {count} accounts")


@app.command("health")
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

    run(work())
    out.print(f"{account}: health {score}")


def _crm_table(title: str, rows: list[Any], columns: dict[str, Callable[[Any], Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name)
    for row in rows:
        table.add_row(*[str(get(row) or "") for get in columns.values()])
    out.print(table)


@app.command("tasks")
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
        run(work()),
        {
            "id": lambda t: f"T-{t.id}",
            "account": lambda t: t.account_id,
            "owner": lambda t: t.owner_role,
            "title": lambda t: t.title,
            "due": lambda t: when(t.due_at),
            "status": lambda t: t.status,
        },
    )


outbox_app = typer.Typer(
    name="outbox",
    help="Emails the saves sent (or recorded, without SMTP). `saves crm outbox` lists them.",
    invoke_without_command=True,
)
app.add_typer(outbox_app)


@outbox_app.callback()
def crm_outbox(
    ctx: typer.Context, account: Annotated[str | None, typer.Option(help="Only this account.")] = None
) -> None:
    """Emails the saves sent (or recorded, without SMTP); ``uncertain`` ones wait for an operator."""
    from activities.store.outbox import Outbox

    if ctx.invoked_subcommand is not None:
        return

    async def work() -> list[Any]:
        engine = make_engine(Settings().db_url)
        try:
            return await Outbox(engine).emails(account)
        finally:
            await engine.dispose()

    _crm_table(
        "Outbox",
        run(work()),
        {
            "id": lambda e: e.id,
            "account": lambda e: e.account_id,
            "template": lambda e: e.template,
            "to": lambda e: e.to_address,
            "subject": lambda e: e.subject,
            "status": lambda e: e.status,
            "at": lambda e: when(e.created_at),
            "error": lambda e: (e.error or "")[:80],
        },
    )


@outbox_app.command("resend")
def crm_outbox_resend(
    email_id: Annotated[int, typer.Argument(help="The email's id, as `saves crm outbox` lists it.")],
) -> None:
    """Send an ``uncertain`` or ``failed`` email again, once you know the customer did not get it.

    An email is ``uncertain`` when the relay had the whole message but its answer never came
    (a timeout, a dropped connection): it may have been delivered, so only a person resends it.
    """
    from activities.mailer import SmtpDelivery
    from activities.store.outbox import Outbox

    settings = Settings()
    smtp = settings.smtp
    if smtp is None:
        raise fail("no SMTP relay configured (SAVES_SMTP_HOST)")

    async def work() -> str:
        engine = make_engine(settings.db_url)
        try:
            return await Outbox(engine).resend(email_id, SmtpDelivery(smtp))
        except (KeyError, ValueError) as exc:
            raise SaveError(str(exc.args[0])) from None
        finally:
            await engine.dispose()

    out.print(f"email {email_id}: {run(work())}")


crm_inbound.register(app)  # saves crm task done|reopen|delete, log-call, owner, changes, sync
