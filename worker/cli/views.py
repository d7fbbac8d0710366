"""``saves list``: running saves filtered like the Temporal UI, printed as a table."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from temporalio.service import RPCError

from playbook_defs.durations import parse_duration
from playbook_defs.vocabulary import OutcomeKind, RiskColour, Stage, Tier
from worker.cli.common import fail, out, run
from worker.runtime.connect import connect
from worker.runtime.listing import VIEWS, FilterError, SaveFilter, SaveRow, list_saves, parse_money
from worker.runtime.save_client import SaveError
from worker.runtime.settings import Settings
from workflows.details import money

app = typer.Typer()


def _duration(value: str | None, option: str) -> timedelta | None:
    if value is None:
        return None
    try:
        parsed = parse_duration(value)
    except ValueError as exc:
        raise FilterError(f"{option}: {exc}") from None
    if not isinstance(parsed, timedelta):
        raise FilterError(f"{option} {value!r}: write it like 2d, 7d or 36h")
    return parsed


def _moment(moment: datetime | None, now: datetime) -> str:
    """``30 Nov 14:06``, in red when already past."""
    if moment is None:
        return ""
    stamp = moment.strftime("%d %b %H:%M")
    return f"[red]{stamp}[/red]" if moment < now else stamp


def _table(rows: list[SaveRow], now: datetime) -> Table:
    """Only the columns that say something for these rows, so the table fits a terminal."""
    columns: dict[str, Callable[[SaveRow], str]] = {
        "account": lambda r: r.account,
        "playbook": lambda r: r.playbook or "",
        "stage": lambda r: (r.stage or "").replace("_", " ") + ("" if r.running else " (closed)"),
        "risk": lambda r: r.risk or "",
        "tier": lambda r: (r.tier or "").replace("_", " "),
        "owner": lambda r: r.owner or "",
        "ARR": lambda r: money(r.arr) if r.arr is not None else "",
        "overdue": lambda r: f"[red]{r.overdue_count}[/red]" if r.overdue_count else "",
        "first contact": lambda r: "[red]rule broken[/red]" if r.first_contact_broken else "",
        "attention": lambda r: "[red]needs attention[/red]" if r.needs_attention else "",
        "escalated": lambda r: f"level {r.escalation_level}" if r.escalation_level else "",
        "outcome": lambda r: (r.outcome or "").replace("_", " "),
        "next deadline": lambda r: _moment(r.next_deadline, now),
        "next check": lambda r: _moment(r.next_check, now),
    }
    cells = {name: [value(r) for r in rows] for name, value in columns.items()}
    shown = [name for name in columns if name in ("account", "playbook", "stage") or any(cells[name])]
    table = Table(
        title=f"{len(rows)} save{'s' if len(rows) != 1 else ''}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for name in shown:
        table.add_column(name, no_wrap=name in ("account", "ARR", "next deadline", "next check"))
    for i in range(len(rows)):
        table.add_row(*(cells[name][i] for name in shown))
    return table


@app.command("views")
def views_command() -> None:
    """The saved views for the Temporal UI, with today's dates: paste a query, then Save as New."""
    now = datetime.now(UTC)
    for name, (title, view) in VIEWS.items():
        out.print(f"[bold]{title}[/bold]  (saves list --view {name})", highlight=False)
        out.print(view.query(now), highlight=False, soft_wrap=True)
        out.print()


@app.command("list")
def list_command(
    view: Annotated[
        str | None, typer.Option(help=f"Start from a saved view: {', '.join(VIEWS)}. Other options narrow it.")
    ] = None,
    playbook: Annotated[list[str] | None, typer.Option(help="Playbook id, e.g. budget. Repeatable.")] = None,
    stage: Annotated[list[Stage] | None, typer.Option(help="Stage. Repeatable.")] = None,
    owner: Annotated[str | None, typer.Option(help="The CSM's user id in the CRM, e.g. u-sam.")] = None,
    risk: Annotated[list[RiskColour] | None, typer.Option(help="Risk colour. Repeatable.")] = None,
    tier: Annotated[list[Tier] | None, typer.Option(help="Account tier. Repeatable.")] = None,
    outcome: Annotated[list[OutcomeKind] | None, typer.Option(help="Recorded outcome. Repeatable.")] = None,
    account: Annotated[str | None, typer.Option(help="One account id.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only saves with something overdue.")] = False,
    sla_broken: Annotated[
        bool, typer.Option("--sla-broken", help="Only saves that broke the 48-hour first-contact rule.")
    ] = False,
    needs_attention: Annotated[
        bool,
        typer.Option(
            "--needs-attention",
            help="Only saves with a step that failed for good (an email refused or of unknown fate, data the CRM"
            " refused), waiting for an operator; `saves show` names it.",
        ),
    ] = False,
    escalated: Annotated[
        int | None, typer.Option(help="Only saves escalated to at least this level (1 = first rung of the ladder).")
    ] = None,
    arr_above: Annotated[str | None, typer.Option(help="ARR above this, e.g. 100k or 1.2M.")] = None,
    arr_below: Annotated[str | None, typer.Option(help="ARR below this, e.g. 50k.")] = None,
    due_within: Annotated[
        str | None, typer.Option(help="Next deadline within this time from now (overdue ones included), e.g. 2d.")
    ] = None,
    check_within: Annotated[
        str | None, typer.Option(help="In recovery, with a 30/60/90-day check due within this time, e.g. 7d.")
    ] = None,
    closed: Annotated[bool, typer.Option("--closed", help="Include closed saves.")] = False,
    where: Annotated[
        list[str] | None,
        typer.Option(help="An extra visibility query clause, e.g. \"SaveRisk != 'green'\". Repeatable."),
    ] = None,
    show_query: Annotated[
        bool, typer.Option("--query", help="Print the visibility query (paste it into the Temporal UI) and stop.")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many saves.")] = 500,
) -> None:
    """Saves filtered like the Temporal UI (same visibility query), most urgent first."""
    now = datetime.now(UTC)
    try:
        if view is not None and view not in VIEWS:
            raise FilterError(f"--view {view!r}: choose one of {', '.join(VIEWS)}")
        base = VIEWS[view][1] if view else SaveFilter()
        query = SaveFilter(
            playbooks=playbook or base.playbooks,
            stages=stage or base.stages,
            owner=owner or base.owner,
            risks=risk or base.risks,
            tiers=tier or base.tiers,
            outcomes=outcome or base.outcomes,
            account=account,
            overdue=overdue or base.overdue,
            sla_broken=sla_broken or base.sla_broken,
            needs_attention=needs_attention or base.needs_attention,
            escalated_to_level=escalated or base.escalated_to_level,
            arr_above=parse_money(arr_above, "--arr-above") if arr_above else None,
            arr_below=parse_money(arr_below, "--arr-below") if arr_below else None,
            deadline_within=_duration(due_within, "--due-within"),
            check_within=_duration(check_within, "--check-within") or base.check_within,
            include_closed=closed,
            extra=where or (),
        ).query(now)
    except FilterError as exc:
        raise fail(str(exc)) from None
    if show_query:
        out.print(query, highlight=False, soft_wrap=True)
        return

    async def work() -> list[SaveRow]:
        client = await connect(Settings())
        try:
            return await list_saves(client, query, limit=limit)
        except RPCError as exc:
            raise SaveError(
                f"the visibility query was refused: {exc.message}\nquery: {query}\n"
                "(are the search attributes registered? `saves search-attributes`)"
            ) from exc

    rows = run(work())
    if not rows:
        out.print(f"No saves match: {query}", highlight=False, soft_wrap=True)
        return
    out.print(_table(rows, now), highlight=False)
