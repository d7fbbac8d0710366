"""The CRM reconciler as a Temporal Schedule (every ``SAVES_CRM_SYNC_EVERY``), and a run now."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    WorkflowHandle,
)

from worker.runtime.schedule import ensure_schedule
from workflows.contracts import CrmSyncReport
from workflows.crm_reconciler import CrmReconcilerWorkflow

SCHEDULE_ID = "crm-reconciler"
WORKFLOW_ID = "crm-reconciler"


def crm_sync_schedule(task_queue: str, every: timedelta) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            CrmReconcilerWorkflow.run,
            id=WORKFLOW_ID,
            task_queue=task_queue,
            static_summary="Read what people did in the CRM and tell the saves",
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=every),
        state=ScheduleState(note="Created by saves; SAVES_CRM_SYNC_EVERY sets the interval"),
    )


async def ensure_crm_sync_schedule(client: Client, task_queue: str, every: timedelta) -> str:
    """Create the schedule, or update the one that exists (a paused one stays paused)."""
    return await ensure_schedule(client, SCHEDULE_ID, crm_sync_schedule(task_queue, every))


async def start_crm_sync_now(client: Client, task_queue: str) -> WorkflowHandle[CrmReconcilerWorkflow, CrmSyncReport]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return await client.start_workflow(
        CrmReconcilerWorkflow.run,
        id=f"{WORKFLOW_ID}-now-{stamp}-{uuid.uuid4().hex[:4]}",
        task_queue=task_queue,
        static_summary="CRM reconciler started by hand",
    )
