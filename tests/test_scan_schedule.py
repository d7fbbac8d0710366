"""The daily scan schedule on a real dev server: created once however often it is ensured, and
a triggered run scans the CRM."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import (
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionResult,
    ScheduleActionStartWorkflow,
    ScheduleHandle,
    ScheduleOverlapPolicy,
)
from temporalio.testing import WorkflowEnvironment

from tests.harness import Harness, SmtpSink
from worker.devtools.eventually import eventually
from worker.runtime.schedule import SCHEDULE_ID, ensure_scan_schedule
from worker.runtime.settings import Settings
from workflows.scan_contracts import ScanReport


async def recent_actions(handle: ScheduleHandle) -> Sequence[ScheduleActionResult]:
    return (await handle.describe()).info.recent_actions


async def test_the_schedule_is_idempotent_and_a_triggered_scan_covers_the_crm(
    dev_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink
) -> None:
    async with Harness.running(dev_env, settings, smtp) as h:
        queue = h.saves.task_queue
        assert await ensure_scan_schedule(h.client, queue) == "created"
        assert await ensure_scan_schedule(h.client, queue) == "updated"
        handle = h.client.get_schedule_handle(SCHEDULE_ID)
        described = await handle.describe()
        spec = described.schedule.spec
        assert [(i.every, i.offset) for i in spec.intervals] == [(timedelta(days=1), timedelta(hours=6))]
        assert described.schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow) and action.workflow == "RiskScan"
        ids = [s.id async for s in await h.client.list_schedules()]
        assert ids.count(SCHEDULE_ID) <= 1  # listing is eventually consistent; never two

        await handle.trigger()
        recent = await eventually(
            lambda: recent_actions(handle), what="the schedule to start a scan", timeout=20, interval=0.05
        )
        started = recent[0].action
        assert isinstance(started, ScheduleActionExecutionStartWorkflow)
        scan = h.client.get_workflow_handle(started.workflow_id, result_type=ScanReport)
        report = await asyncio.wait_for(scan.result(), timeout=60)
        assert report.counts.accounts == 10 and report.runs == 1
        assert report.counts.saves_started == report.counts.red > 0
