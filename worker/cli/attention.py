"""``saves attention``: steps of a save that failed for good; an operator retries or skips each."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import ValidationError

from worker.cli.common import Account, err, fail, out, run, save_client
from workflows.models import AttentionAction, AttentionStatus, NeedsAttention, ResolveAttention, SaveState
from workflows.rules import when

app = typer.Typer(
    name="attention",
    help="Steps of a save that failed for good: list them, retry one after fixing the data, or skip it.",
    no_args_is_help=True,
)

Item = Annotated[str, typer.Argument(help="The item id (a1, a2, ...), as `saves attention list` shows it.")]
Operator = Annotated[str, typer.Option("--by", help="Who decides (recorded on the save).")]
_OPTIONS = {"item": "ITEM", "by": "--by", "reason": "--reason"}


def _request(**fields: Any) -> ResolveAttention:
    """The decision; a bad value is one line naming the option, not the request's field."""
    try:
        return ResolveAttention(**fields)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            message = str(e["msg"]).removeprefix("Value error, ")
            where = _OPTIONS.get(str(e["loc"][0]), "") if e["loc"] else ""
            problems.append(f"{where}: {message}" if where else message)
        raise fail("; ".join(problems)) from None


async def _state(account: str) -> SaveState:
    async with save_client() as saves:
        return await saves.state(account)


async def _resolve(account: str, request: ResolveAttention) -> NeedsAttention:
    async with save_client() as saves:
        return await saves.resolve_attention(account, request)


def _show(item: NeedsAttention) -> None:
    out.print(f"{item.id}  {item.status.value}  {item.step}", highlight=False)
    out.print(f"    since {when(item.since)}: {item.error}: {item.message}", highlight=False)
    for d in item.decisions:
        why = f" ({d.reason})" if d.reason and d.action is AttentionAction.RETRY else ""
        result = d.reason if d.action is AttentionAction.SKIP else d.result
        verb = "skipped" if d.action is AttentionAction.SKIP else "retried"
        out.print(f"    {verb} by {d.by} on {when(d.at)}{why}: {result}", highlight=False)


@app.command("list")
def attention_list(
    account: Account,
    every: Annotated[bool, typer.Option("--all", help="Also the items already retried or skipped.")] = False,
) -> None:
    """The steps of the save that failed for good, with their errors and the operators' decisions."""
    state = run(_state(account))
    items = [i for i in state.needs_attention if every or i.status is not AttentionStatus.RESOLVED]
    items = [i for i in items if every or i.status is not AttentionStatus.SKIPPED]
    if not items:
        settled = len(state.needs_attention)
        more = f" ({settled} retried or skipped; --all shows them)" if settled else ""
        out.print(f"nothing of {account}'s save needs attention{more}", highlight=False)
        return
    for item in items:
        _show(item)
    if any(i.is_open for i in items):
        out.print(
            f"\nFix the cause, then `saves attention retry {account} ITEM --by NAME`,"
            f" or `saves attention skip {account} ITEM --reason ... --by NAME`.",
            highlight=False,
        )


@app.command("retry")
def attention_retry(
    account: Account,
    item: Item,
    by: Operator,
    reason: Annotated[str, typer.Option(help="What was fixed (recorded with the retry).")] = "",
) -> None:
    """Run a step that needs attention again, after fixing its cause: an email is sent once more."""
    found = run(_resolve(account, _request(item=item, action=AttentionAction.RETRY, by=by, reason=reason)))
    last = found.decisions[-1]
    if not last.succeeded:
        err.print(f"{found.id}: the retry {last.result}", highlight=False)
        raise typer.Exit(1)
    out.print(f"{found.id}: retried, done ({found.step})", highlight=False)


@app.command("skip")
def attention_skip(
    account: Account,
    item: Item,
    reason: Annotated[str, typer.Option(help="Why the step is left undone (recorded on the save).")],
    by: Operator,
) -> None:
    """Leave a step that needs attention undone, saying why; the save goes on without it."""
    found = run(_resolve(account, _request(item=item, action=AttentionAction.SKIP, by=by, reason=reason)))
    out.print(f"{found.id}: skipped ({found.step})", highlight=False)
