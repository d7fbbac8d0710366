"""``saves up --demo``: load the demo CRM and open a live save of each of the six playbooks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from activities.store.crm_import import import_crm, read_crm_file
from playbook_defs.demo_clock import scaled
from playbook_defs.vocabulary import CancellationReason, OutcomeKind, OwnerRole, RootCauseCategory, TriggerKind
from worker.runtime.save_client import SaveClient, SaveError
from workflows.models import AddCommitment, CompleteTask, FlagHelp, RecordOutcome, RecordRootCause, Trigger
from workflows.save import SaveWorkflow

DEMO_CRM = Path(__file__).resolve().parent / "crm.yaml"

DEMO_TRIGGERS = [
    Trigger(
        trigger_id="demo-northwind",
        account_id="northwind",
        kind=TriggerKind.CANCELLATION_REQUEST,
        reason=CancellationReason.PRODUCT,
        source="demo",
        note="Cancellation notice: no bulk import; 14 support tickets in 60 days",
    ),
    Trigger(
        trigger_id="demo-bluepeak",
        account_id="bluepeak",
        kind=TriggerKind.LOW_USAGE,
        source="demo",
        signals={"usage_pct": 31},
        note="Usage at 31% of licences for 3 months",
    ),
    Trigger(
        trigger_id="demo-harborline",
        account_id="harborline",
        kind=TriggerKind.CANCELLATION_REQUEST,
        reason=CancellationReason.SERVICE,
        source="demo",
        note="Says tickets wait days and nobody calls back",
    ),
    Trigger(
        trigger_id="demo-tinkerbox",
        account_id="tinkerbox",
        kind=TriggerKind.PAYMENT_PAST_DUE,
        source="demo",
        signals={"days_past_due": 97},
    ),
    Trigger(
        trigger_id="demo-quillstone",
        account_id="quillstone",
        kind=TriggerKind.COMPETITOR_EVALUATION,
        source="demo",
        note="Running a trial of a competitor with two teams",
    ),
    Trigger(
        trigger_id="demo-orbitfoods",
        account_id="orbitfoods",
        kind=TriggerKind.CHAMPION_DEPARTURE,
        source="demo",
        note="Our champion leaves at the end of the month",
    ),
]


async def load_demo_crm(engine: AsyncEngine) -> int:
    return await import_crm(engine, read_crm_file(DEMO_CRM))


async def _wait_open(saves: SaveClient, account_id: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await saves.state(account_id)
            return
        except SaveError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.3)


DEMO_PLAYBOOK_DIR = "demo-playbooks"
"""Where ``saves up --demo`` writes the demo clock's playbook copies, inside the data directory."""

PLAYED = "(played by the demo)"
"""Every human action the demo takes itself says so, on the save and in the terminal."""


@dataclass(frozen=True)
class DemoAction:
    """Something a person does in the demo, ``at`` demo time after the saves open."""

    at: timedelta
    account_id: str
    update: Any
    request: Any
    says: str


def demo_actions(speed: int) -> list[DemoAction]:
    """What the demo's people do, in demo time; a promise's due date is on the demo clock too."""
    zero = timedelta(0)
    return [
        DemoAction(
            zero,
            "northwind",
            SaveWorkflow.complete_task,
            CompleteTask(
                task_id="acknowledgment_call", by=f"Sam Ortiz {PLAYED}", note="Named Ravi (PM) as owner of the fix"
            ),
            "Sam Ortiz called Northwind at once: first-contact rule kept",
        ),
        DemoAction(
            zero,
            "northwind",
            SaveWorkflow.add_commitment,
            AddCommitment(
                what="Support runs the monthly import by hand until bulk import ships",
                owner=OwnerRole.SUPPORT,
                due_in=scaled(timedelta(days=7), speed),
                by=f"Sam Ortiz {PLAYED}",
            ),
            "Sam Ortiz promised Northwind a manual import within 7 demo days",
        ),
        DemoAction(
            zero,
            "harborline",
            SaveWorkflow.flag_help,
            FlagHelp(
                role=OwnerRole.SUPPORT,
                what="Assign a dedicated senior engineer to Harborline's tickets",
                by=f"Sam Ortiz {PLAYED}",
            ),
            "Sam Ortiz flagged that Support must help on Harborline",
        ),
        DemoAction(
            zero,
            "tinkerbox",
            SaveWorkflow.record_root_cause,
            RecordRootCause(
                whys=["Budget cut", "Company-wide cost reduction", "They cannot show ROI to their finance team"],
                category=RootCauseCategory.VALUE,
                summary="A value problem, not a budget problem",
                by=f"Aisha Khan {PLAYED}",
            ),
            "Aisha Khan found Tinkerbox's root cause: value, not budget",
        ),
        DemoAction(
            zero,
            "tinkerbox",
            SaveWorkflow.add_commitment,
            AddCommitment(
                what="Six-month bridge at 40% off, returning to list price",
                owner=OwnerRole.SALES,
                due_in=scaled(timedelta(days=3), speed),
                discount_pct=40,
                by=f"Aisha Khan {PLAYED}",
            ),
            "Aisha Khan promised Tinkerbox a bridge offer within 3 demo days; it needs Finance's approval",
        ),
        DemoAction(
            timedelta(days=1),
            "tinkerbox",
            SaveWorkflow.complete_task,
            CompleteTask(
                task_id="approve_c1",  # the approval of Tinkerbox's first (and only) commitment
                by=f"Lee Wong {PLAYED}",
                note="A bridge that returns to list price solves the real problem",
            ),
            "Lee Wong (Finance) approved Tinkerbox's 40% bridge; nobody will deliver it by demo day 3",
        ),
        DemoAction(
            timedelta(days=1),
            "quillstone",
            SaveWorkflow.complete_task,
            CompleteTask(task_id="discovery_call", by=f"Ben Carter {PLAYED}", note="Trial ends in three weeks"),
            "Ben Carter called Quillstone: first contact within the rule",
        ),
        DemoAction(
            timedelta(days=4),
            "quillstone",
            SaveWorkflow.record_outcome,
            RecordOutcome(kind=OutcomeKind.SAVED, reason="Kept after the roadmap preview", by=f"Ben Carter {PLAYED}"),
            "Ben Carter recorded Quillstone as saved: it enters 90 demo days of recovery",
        ),
    ]


def demo_day(at: timedelta) -> str:
    return f"demo day {at.total_seconds() / 86400:g}"


async def start_demo_saves(saves: SaveClient, speed: int) -> list[str]:
    """Trigger the six demo saves and take the actions due at once; the rest is :func:`play_demo`."""
    for trigger in DEMO_TRIGGERS:
        await saves.trigger(trigger)
    for trigger in DEMO_TRIGGERS:
        await _wait_open(saves, trigger.account_id)
    return [line for a in demo_actions(speed) if a.at == timedelta(0) and (line := await _act(saves, a))]


async def play_demo(saves: SaveClient, speed: int, say: Callable[[str], None]) -> None:
    """The later actions, each when the demo clock reaches it (``at / speed`` real time after the start)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    for action in demo_actions(speed):
        if action.at == timedelta(0):
            continue
        await asyncio.sleep(max(0.0, started + action.at.total_seconds() / speed - loop.time()))
        line = await _act(saves, action)
        if line:
            say(f"[{demo_day(action.at)}] {line}")


async def _act(saves: SaveClient, action: DemoAction) -> str | None:
    try:
        await saves.update(action.account_id, action.update, action.request)
    except SaveError:
        return None  # already done on an earlier run of the demo, or the save moved on
    return f"{action.says} {PLAYED}"
