"""``saves trigger``, ``show`` and the human actions on a save: root cause, help, reassign, outcome."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.markdown import Markdown
from rich.table import Table

from playbook_defs.vocabulary import (
    CancellationReason,
    OutcomeKind,
    OwnerRole,
    RootCauseCategory,
    TriggerKind,
)
from worker.cli.common import Account, By, act, fail, out, run, save_client, valid
from worker.runtime.save_client import new_trigger_id
from workflows.models import (
    FlagHelp,
    ReassignOwner,
    RecordOutcome,
    RecordRootCause,
    SaveState,
    Trigger,
)
from workflows.rules import when
from workflows.save import SaveWorkflow
from workflows.why import why_started

app = typer.Typer()


def _signals(values: list[str]) -> dict[str, float | int | str | bool]:
    parsed: dict[str, float | int | str | bool] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise fail(f"--signal {item!r}: write it as name=value")
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
    request = valid(
        Trigger,
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
        async with save_client(starts_saves=True) as saves:
            return await saves.trigger(request)

    result = run(work())
    verb = "joined the running save" if result.merged else "started a save"
    out.print(f"{account}: {verb} ({result.playbook}), workflow {result.workflow_id}")


@app.command()
def show(
    account: Account,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole state as JSON.")] = False,
) -> None:
    """Where a save stands: stage, tasks, overdue items, escalations, commitments."""

    async def work() -> tuple[SaveState, str]:
        async with save_client() as saves:
            return await saves.state_and_details(account)

    state, details = run(work())
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


@app.command("root-cause")
def root_cause(
    account: Account,
    why: Annotated[list[str], typer.Option(help="One answer of the five whys. Repeat, in order.")],
    category: Annotated[RootCauseCategory, typer.Option(help="What the root cause is about.")],
    summary: Annotated[str, typer.Option(help="The root cause in one sentence.")],
    by: By = None,
) -> None:
    """Record the root cause found with the five whys."""
    run(
        act(
            account,
            SaveWorkflow.record_root_cause,
            valid(RecordRootCause, whys=why, category=category, summary=summary, by=by),
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
    h = run(act(account, SaveWorkflow.flag_help, valid(FlagHelp, role=role, what=what, by=by)))
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
    change = run(
        act(
            account,
            SaveWorkflow.reassign_owner,
            valid(ReassignOwner, role=role, owner_id=owner_id, name=name, email=email, reason=reason, by=by),
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
    o = run(
        act(
            account,
            SaveWorkflow.record_outcome,
            valid(RecordOutcome, kind=kind, reason=reason, arr_retained=arr_retained, criteria_met=met or [], by=by),
        )
    )
    out.print(f"outcome {o.kind.value}; criteria met: {', '.join(o.criteria_met) or 'none'}")
