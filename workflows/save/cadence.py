"""The weekly rhythm of an open save: an update email to the customer (progress, timeline, next
steps, what we need from them) and an internal status to the CS manager; both stop at the outcome."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from playbook_defs.schema import CUSTOMER
from workflows import rules, wording
from workflows.models import Repeating
from workflows.save.timers import sleep_until

if TYPE_CHECKING:
    from workflows.save.context import SaveRun


async def repeat(
    run: SaveRun,
    rep: Repeating,
    every: timedelta,
    label: str,
    action: Callable[[int], Awaitable[None]],
    until: datetime | None = None,
) -> None:
    """Run ``action`` every ``every`` from ``rep.next_at`` (numbered from 1), until ``until`` if given."""
    while until is None or rep.next_at <= until:
        number = rep.count + 1
        await sleep_until(rep.next_at, f"{label} #{number}")
        await action(number)
        rep.count = number
        rep.next_at += every
        run.publish()


async def customer_update(run: SaveRun, number: int) -> None:
    s = run.s
    cadence = s.playbook.cadence
    since = s.customer_updates.next_at - cadence.customer_update_every
    await run.effects.email(
        cadence.customer_update_template,
        CUSTOMER,
        f"weekly_update/{number}",
        {"number": number, "since": rules.when(since)},
        f"Weekly update #{number} to customer",
    )


async def internal_status(run: SaveRun, number: int) -> None:
    cadence = run.s.playbook.cadence
    to = cadence.internal_status_to
    await run.effects.email(
        cadence.internal_status_template,
        to,
        f"internal_status/{number}",
        {"number": number},
        f"Weekly internal status #{number} to {wording.role(to)}",
    )


def start_cadence(run: SaveRun) -> None:
    """Spawn both weekly loops of the save phase."""
    s = run.s
    cadence = s.playbook.cadence
    run.supervisor.spawn(
        repeat(
            run,
            s.customer_updates,
            cadence.customer_update_every,
            "Weekly update to customer",
            lambda n: customer_update(run, n),
        )
    )
    run.supervisor.spawn(
        repeat(
            run,
            s.internal_status,
            cadence.internal_status_every,
            f"Weekly internal status to {wording.role(cadence.internal_status_to)}",
            lambda n: internal_status(run, n),
        )
    )
