"""``saves scan ...`` and ``saves triage ...``: the daily risk scan and the triage override."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, date, datetime, time
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from activities.store.crm_generate import add_generated_accounts
from activities.store.db import create_schema, make_engine
from activities.store.sql_crm import SqlCrm
from playbook_defs.loader import PlaybookError, load_playbooks
from playbook_defs.triage_rules import Strategy, Zone
from worker.connect import connect
from worker.save_client import SaveClient, SaveError
from worker.schedule import SCHEDULE_ID, ensure_scan_schedule, start_scan_now
from worker.settings import Settings
from workflows.save import SaveWorkflow
from workflows.scan_contracts import ScanReport
from workflows.triage_models import OverrideTriage, TriageDecision

T = TypeVar("T")

scan_app = typer.Typer(help="The daily risk scan: schedule it, or run it now.", no_args_is_help=True)
triage_app = typer.Typer(help="Triage of a save: red or dead zone; rescue, recover or farewell.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _run(work: Awaitable[T]) -> T:
    try:
        return asyncio.run(work)  # type: ignore[arg-type]
    except (SaveError, PlaybookError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except RuntimeError as exc:
        if "connect" in str(exc).lower():
            err.print(
                f"[red]error:[/red] cannot reach Temporal at {Settings().temporal_address}; "
                "start it with `saves up` or set SAVES_TEMPORAL_ADDRESS",
                highlight=False,
            )
            raise typer.Exit(1) from None
        raise


def print_report(report: ScanReport) -> None:
    c = report.counts
    out.print(
        f"Scanned {c.accounts:,} accounts as of {report.as_of:%Y-%m-%d}: "
        f"green {c.green:,}, yellow {c.yellow:,}, red {c.red:,} ({c.status_changed:,} changed)",
        highlight=False,
    )
    out.print(
        f"Saves: {c.saves_started:,} started, {c.saves_joined:,} joined, "
        f"{c.trigger_failures:,} failed · {report.batches} pages in {report.runs} run(s)",
        highlight=False,
    )
    for rule, count in sorted(c.by_rule.items()):
        out.print(f"  {rule}: {count:,}", highlight=False)
    for problem in report.problems:
        err.print(f"  failed: {problem}", highlight=False)


@scan_app.command("now")
def scan_now(
    wait: Annotated[bool, typer.Option(help="Wait for the scan to finish and print its figures.")] = True,
    as_of: Annotated[
        str | None, typer.Option(help="Evaluate the rules as of this day (YYYY-MM-DD) instead of today.")
    ] = None,
) -> None:
    """Run the risk scan now, beside the daily schedule."""
    day = None
    if as_of is not None:
        try:
            day = datetime.combine(date.fromisoformat(as_of), time(), tzinfo=UTC)
        except ValueError:
            err.print(f"[red]error:[/red] --as-of {as_of!r}: write the day as YYYY-MM-DD", highlight=False)
            raise typer.Exit(2) from None

    async def work() -> ScanReport | str:
        settings = Settings()
        handle = await start_scan_now(await connect(settings), settings.task_queue, day)
        if not wait:
            return handle.id
        out.print(f"Scan {handle.id} started; waiting for it (a worker must be running) ...")
        return await handle.result()

    result = _run(work())
    if isinstance(result, str):
        out.print(f"Scan started: workflow {result}")
    else:
        print_report(result)


@scan_app.command("schedule")
def scan_schedule() -> None:
    """Create or update the daily scan schedule on the configured cluster (idempotent)."""

    async def work() -> str:
        settings = Settings()
        return await ensure_scan_schedule(await connect(settings), settings.task_queue, settings.playbook_dir)

    verb = _run(work())
    out.print(f"schedule {SCHEDULE_ID!r} {verb}")


@scan_app.command("generate-crm")
def scan_generate(
    accounts: Annotated[int, typer.Option(min=1, max=1_000_000, help="How many accounts to add.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Same seed, same accounts.")] = 7,
) -> None:
    """Add generated accounts (ids gen-000000 ...) to the CRM store, to try the scan at scale."""

    async def work() -> int:
        engine = make_engine(Settings().db_url)
        try:
            await create_schema(engine)
            return await add_generated_accounts(engine, accounts, datetime.now(UTC).date(), seed)
        finally:
            await engine.dispose()

    out.print(f"added {_run(work()):,} generated accounts")


@triage_app.command("override")
def triage_override(
    account: Annotated[str, typer.Argument(help="The account id, as in the CRM.")],
    reason: Annotated[str, typer.Option(help="Why, in a sentence (recorded on the save).")],
    by: Annotated[str, typer.Option(help="The CS manager making the call.")],
    zone: Annotated[Zone | None, typer.Option(help="red_zone (worth saving) or dead_zone.")] = None,
    strategy: Annotated[Strategy | None, typer.Option(help="rescue, recover or farewell.")] = None,
) -> None:
    """Override a save's triage within its window; with no zone or strategy, confirm it."""

    async def work() -> TriageDecision:
        settings = Settings()
        engine = make_engine(settings.db_url)
        try:
            saves = SaveClient(
                await connect(settings), settings.task_queue, load_playbooks(settings.playbook_dir), SqlCrm(engine)
            )
            decision: TriageDecision = await saves.update(
                account,
                SaveWorkflow.override_triage,
                OverrideTriage(zone=zone, strategy=strategy, reason=reason, by=by),
            )
            return decision
        finally:
            await engine.dispose()

    d = _run(work())
    out.print(
        f"{account}: {d.zone.value.replace('_', ' ')}, {d.strategy.value} -> {d.path.value} path", highlight=False
    )
