"""``saves up --demo``: load the demo CRM and open a live save of each of the six playbooks."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from activities.store.crm_import import import_crm, read_crm_file
from playbook_defs.vocabulary import CancellationReason, OwnerRole, RootCauseCategory, TriggerKind
from worker.runtime.save_client import SaveClient, SaveError
from workflows.models import AddCommitment, CompleteTask, FlagHelp, RecordRootCause, Trigger
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


async def start_demo_saves(saves: SaveClient) -> list[str]:
    """Trigger the six demo saves and move a few of them along, as people would."""
    for trigger in DEMO_TRIGGERS:
        await saves.trigger(trigger)
    for trigger in DEMO_TRIGGERS:
        await _wait_open(saves, trigger.account_id)
    actions = [
        (
            "northwind",
            SaveWorkflow.complete_task,
            CompleteTask(task_id="acknowledgment_call", by="Sam Ortiz", note="Named Ravi (PM) as owner of the fix"),
        ),
        (
            "northwind",
            SaveWorkflow.add_commitment,
            AddCommitment(
                what="Support runs the monthly import by hand until bulk import ships",
                owner=OwnerRole.SUPPORT,
                due_in="7d",
                by="Sam Ortiz",
            ),
        ),
        (
            "harborline",
            SaveWorkflow.flag_help,
            FlagHelp(
                role=OwnerRole.SUPPORT,
                what="Assign a dedicated senior engineer to Harborline's tickets",
                by="Sam Ortiz",
            ),
        ),
        (
            "tinkerbox",
            SaveWorkflow.record_root_cause,
            RecordRootCause(
                whys=["Budget cut", "Company-wide cost reduction", "They cannot show ROI to their finance team"],
                category=RootCauseCategory.VALUE,
                summary="A value problem, not a budget problem",
                by="Aisha Khan",
            ),
        ),
        (
            "tinkerbox",
            SaveWorkflow.add_commitment,
            AddCommitment(
                what="Six-month bridge at 40% off, returning to list price",
                owner=OwnerRole.SALES,
                due_in="3d",
                discount_pct=40,
                by="Aisha Khan",
            ),
        ),
    ]
    done = []
    for account_id, update, request in actions:
        try:
            await saves.update(account_id, update, request)
            done.append(f"{account_id}: {type(request).__name__}")
        except SaveError:
            pass  # already done on an earlier run of the demo
    return done
