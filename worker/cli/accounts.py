"""``saves accounts``: find an account in the CRM store without reading its import file."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table
from temporalio.service import RPCError

from activities.store.db import create_schema, make_engine
from activities.store.sql_crm import AccountListing, SqlCrm
from worker.cli.common import err, out
from worker.runtime.connect import connect
from worker.runtime.listing import list_saves
from worker.runtime.settings import Settings
from workflows.details import money

app = typer.Typer()

RUNNING = "WorkflowType = 'Save' AND ExecutionStatus = 'Running'"


async def _open_saves(settings: Settings) -> dict[str, str] | None:
    """Account id -> stage of its running save; None when Temporal cannot be asked."""
    try:
        client = await asyncio.wait_for(connect(settings), timeout=5)
        rows = await list_saves(client, RUNNING)
    except (RuntimeError, RPCError, TimeoutError, OSError):
        return None
    return {r.account_id: (r.stage or "open").replace("_", " ") for r in rows if r.account_id}


async def _accounts(settings: Settings, search: str | None, limit: int) -> list[AccountListing]:
    engine = make_engine(settings.db_url)
    try:
        await create_schema(engine)
        return await SqlCrm(engine).accounts(search, limit)
    finally:
        await engine.dispose()


@app.command("accounts")
def accounts_command(
    search: Annotated[str | None, typer.Argument(help="Part of an account id or name, e.g. north.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many accounts.")] = 50,
) -> None:
    """The CRM's accounts, largest ARR first: tier, owner, risk and whether a save is open."""
    settings = Settings()

    async def work() -> tuple[list[AccountListing], dict[str, str] | None]:
        found = await _accounts(settings, search, limit)
        return found, await _open_saves(settings) if found else {}

    found, open_saves = asyncio.run(work())
    if not found:
        where = f" matching {search!r}" if search else ""
        out.print(f"No accounts{where} in the CRM store ({settings.db_url.split('///')[-1]}).", highlight=False)
        out.print("Import some with `saves crm import FILE`, or start the demo with `saves up --demo`.")
        return
    table = Table(title=f"{len(found)} account{'s' if len(found) != 1 else ''}", title_justify="left")
    table.add_column("account", no_wrap=True, min_width=max(len(a.account_id) for a in found))
    for column in ("name", "ARR", "tier", "owner (CSM)", "risk", "health", "open save"):
        table.add_column(column, justify="right" if column in ("ARR", "health") else "left")
    for a in found:
        save = "?" if open_saves is None else open_saves.get(a.account_id, "-")
        owner = f"{a.csm} ({a.csm_id})" if a.csm else "unassigned"
        health = "-" if a.health is None else str(a.health)
        table.add_row(a.account_id, a.name, money(a.arr), a.tier.replace("_", " "), owner, a.risk, health, save)
    out.print(table)
    if open_saves is None:
        err.print(f"(open saves unknown: cannot reach Temporal at {settings.temporal_address})", highlight=False)
