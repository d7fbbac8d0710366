"""``saves commitment``: promises made to the customer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError

from playbook_defs.durations import Duration
from playbook_defs.errors import describe
from playbook_defs.vocabulary import (
    OwnerRole,
)
from worker.cli.common import Account, By, act, fail, out, run, save_client, valid
from workflows.models import (
    AddCommitment,
    Commitment,
    FulfilCommitment,
)
from workflows.rules import when
from workflows.save import SaveWorkflow

app = typer.Typer(name="commitment", help="Promises made to the customer.", no_args_is_help=True)


def _due(value: str) -> dict[str, Any]:
    """``--due``: a duration (at most 5 years) or a date; a date without a time zone is read as UTC."""
    try:
        return {"due_in": TypeAdapter(Duration).validate_python(value)}
    except ValidationError as exc:
        if value.strip()[:1].isdigit() and value.strip()[-1:] in "wdhms":
            raise fail(f"--due {value!r}: {describe(exc, None)[0].removeprefix('(top level): ')}") from None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--due {value!r}: give a duration like 5d or a date like 2027-01-15") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment <= datetime.now(UTC):
        raise fail(f"--due {value!r} is in the past; give a later date or a duration like 5d")
    return {"due_at": moment}


@app.command("add")
def commitment_add(
    account: Account,
    what: Annotated[str, typer.Argument(help="The promise, as the customer heard it.")],
    owner: Annotated[OwnerRole, typer.Option(help="Who must deliver it.")],
    due: Annotated[str, typer.Option(help="When: a duration (5d) or a date (2027-01-15).")],
    discount: Annotated[float | None, typer.Option(help="Discount percentage, if this is one.")] = None,
    by: By = None,
) -> None:
    """Record a promise made to the customer; it is tracked and escalated if late."""
    c = run(
        act(
            account,
            SaveWorkflow.add_commitment,
            valid(AddCommitment, what=what, owner=owner, discount_pct=discount, by=by, **_due(due)),
        )
    )
    extra = " (waiting for approval)" if c.status.value == "awaiting_approval" else ""
    out.print(f"{c.id}: {c.what}, due {when(c.due_at)}{extra}")


@app.command("fulfil")
def commitment_fulfil(
    account: Account,
    commitment_id: Annotated[str, typer.Argument(help="The commitment id (c1, c2, ...).")],
    note: Annotated[str, typer.Option(help="How it was delivered.")] = "",
    by: By = None,
) -> None:
    """Mark a commitment delivered."""

    async def work() -> Commitment:
        async with save_client() as saves:
            request = valid(FulfilCommitment, commitment_id=commitment_id, by=by, note=note)
            return await saves.fulfil_commitment(account, request)

    c = run(work())
    out.print(f"{c.id}: {'kept' if c.kept else 'delivered late'}")
