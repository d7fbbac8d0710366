"""The daily risk scan as a Temporal Schedule, and starting a scan now.

``ensure_scan_schedule`` is idempotent: it creates the schedule, or brings an existing one in line
with ``rules/risk_rules.yaml`` (a changed time takes effect), so ``saves up`` and a deploy step
can both run it every time.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowHandle,
)

from activities.scan_rules import load_scan_rules
from playbook_defs.loader import PLAYBOOK_DIR
from workflows.risk_scan import RiskScanWorkflow
from workflows.scan_contracts import ScanInput, ScanReport

SCHEDULE_ID = "risk-scan-daily"
SCAN_WORKFLOW_ID = "risk-scan"
CATCHUP = timedelta(hours=12)
"""A scan missed while the cluster was down still runs if it comes back within this window."""


def scan_schedule(task_queue: str, playbook_dir: Path = PLAYBOOK_DIR) -> Schedule:
    rules = load_scan_rules(playbook_dir)
    every, offset = rules.schedule.every, rules.schedule.offset
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RiskScanWorkflow.run,
            ScanInput(),
            id=SCAN_WORKFLOW_ID,
            task_queue=task_queue,
            static_summary="Daily risk scan: colour every account, start or join saves",
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every, offset=offset)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP),
        state=ScheduleState(note="Created by saves; rules in playbook_defs/rules/risk_rules.yaml"),
    )


async def ensure_scan_schedule(client: Client, task_queue: str, playbook_dir: Path = PLAYBOOK_DIR) -> str:
    """Create the schedule, or update the one that exists; returns ``created`` or ``updated``."""
    return await ensure_schedule(client, SCHEDULE_ID, scan_schedule(task_queue, playbook_dir))


async def ensure_schedule(client: Client, schedule_id: str, schedule: Schedule) -> str:
    """Create ``schedule_id``, or update the one that exists; returns ``created`` or ``updated``."""
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        pass

    def keep_state(current: ScheduleUpdateInput) -> ScheduleUpdate:
        # A paused schedule stays paused: pausing is an operator's decision, not configuration.
        return ScheduleUpdate(
            schedule=Schedule(
                action=schedule.action,
                spec=schedule.spec,
                policy=schedule.policy,
                state=current.description.schedule.state,
            )
        )

    await client.get_schedule_handle(schedule_id).update(keep_state)
    return "updated"


async def start_scan_now(
    client: Client,
    task_queue: str,
    as_of: datetime | None = None,
) -> WorkflowHandle[RiskScanWorkflow, ScanReport]:
    """Run a scan at once, beside the schedule (its own workflow id)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return await client.start_workflow(
        RiskScanWorkflow.run,
        ScanInput(as_of=as_of),
        id=f"{SCAN_WORKFLOW_ID}-now-{stamp}-{uuid.uuid4().hex[:4]}",
        task_queue=task_queue,
        static_summary="Risk scan started by hand",
    )
