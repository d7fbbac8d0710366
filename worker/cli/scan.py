"""``saves scan ...``: the daily risk scan, scheduled or run now."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

import typer

from activities.store.crm_generate import add_generated_accounts
from activities.store.db import create_schema, make_engine
from worker.cli.common import err, out, run
from worker.runtime.connect import connect
from worker.runtime.schedule import SCHEDULE_ID, ensure_scan_schedule, start_scan_now
from worker.runtime.settings import Settings
from workflows.scan_contracts import ScanReport

app = typer.Typer(name="scan", help="The daily risk scan: schedule it, or run it now.", no_args_is_help=True)


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


@app.command("now")
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

    result = run(work())
    if isinstance(result, str):
        out.print(f"Scan started: workflow {result}")
    else:
        print_report(result)


@app.command("schedule")
def scan_schedule() -> None:
    """Create or update the daily scan schedule on the configured cluster (idempotent)."""

    async def work() -> str:
        settings = Settings()
        return await ensure_scan_schedule(await connect(settings), settings.task_queue, settings.playbook_dir)

    verb = run(work())
    out.print(f"schedule {SCHEDULE_ID!r} {verb}")


@app.command("generate-crm")
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

    out.print(f"added {run(work()):,} generated accounts")
