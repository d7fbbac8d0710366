"""The CRM reconciler: read what people did in the CRM since the last cursor and tell the saves.

Started by a Temporal Schedule (``worker/runtime/crm_sync.py``) every few minutes, so work done in the CRM
reaches its save even when a webhook was missed or the CRM's API was down: each run reads every
change after the stored cursor (for HubSpot also the webhooks recorded meanwhile), signals each
event to its account's save (``crm_event``), and only then moves the cursor. A change read twice
carries the same key, and a save applies a key once.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import ChangesPage, CrmSyncReport
    from workflows.ids import save_workflow_id
    from workflows.save.crm_sync import SIGNAL as CRM_EVENT_SIGNAL

READ_CHANGES = "read_crm_changes"
COMMIT_CURSOR = "commit_crm_cursor"
"""Activity names (``activities/crm_sync_activities.py``); called by name, so the engine never
loads the adapters."""
MAX_PAGES = 20
"""Pages read in one run; the next run (minutes later) goes on from the cursor."""
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=6,
)
"""Bounded: a CRM that stays down fails this run; the schedule's next run tries again."""


@workflow.defn(name="CrmReconciler")
class CrmReconcilerWorkflow:
    @workflow.run
    async def run(self) -> CrmSyncReport:
        report = CrmSyncReport()
        for _ in range(MAX_PAGES):
            page = await workflow.execute_activity(
                READ_CHANGES,
                result_type=ChangesPage,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=RETRY,
                summary="Read the CRM's changes since the cursor",
            )
            report = report.model_copy(update={"read": report.read + len(page.events)})
            for event in page.events:
                delivered = False
                if event.account_id:
                    handle = workflow.get_external_workflow_handle(save_workflow_id(event.account_id))
                    try:
                        await handle.signal(CRM_EVENT_SIGNAL, event)
                        delivered = True
                    except FailureError:  # no running save for the account: nothing to tell
                        delivered = False
                report = report.model_copy(
                    update={
                        "delivered": report.delivered + delivered,
                        "without_save": report.without_save + (not delivered),
                    }
                )
            if page.cursor:
                await workflow.execute_activity(
                    COMMIT_CURSOR,
                    page.cursor,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=RETRY,
                    summary="Move the cursor past the delivered changes",
                )
                report = report.model_copy(update={"cursor": page.cursor})
            if not page.more:
                break
        return report
