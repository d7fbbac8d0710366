"""The daily risk scan: page through the CRM, colour every account, start or join saves.

One activity per page of accounts; each returns counts and a cursor only. After
``batches_per_run`` pages (or when Temporal suggests it) the scan continues as new with its
totals, so 10,000 or 1,000,000 accounts scan with short histories.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.scan_contracts import SCAN_ACCOUNTS, ScanBatchRequest, ScanBatchResult, ScanInput, ScanReport

BATCH_TIMEOUT = timedelta(minutes=10)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=20,
)


@workflow.defn(name="RiskScan")
class RiskScanWorkflow:
    """Evaluates the trigger rules of ``rules/risk_rules.yaml`` over every account in the CRM."""

    def __init__(self) -> None:
        self._progress: ScanInput | None = None

    @workflow.run
    async def run(self, inp: ScanInput) -> ScanReport:
        scan = inp.model_copy(deep=True)
        scan.scan_id = scan.scan_id or workflow.info().workflow_id
        scan.as_of = scan.as_of or workflow.now()
        self._progress = scan
        pages_this_run = 0
        while True:
            result: ScanBatchResult = await workflow.execute_activity(
                SCAN_ACCOUNTS,
                ScanBatchRequest(
                    scan_id=scan.scan_id,
                    as_of=scan.as_of,
                    after=scan.after,
                    batch_size=scan.batch_size,
                    task_queue=scan.task_queue,
                ),
                start_to_close_timeout=BATCH_TIMEOUT,
                retry_policy=RETRY,
                result_type=ScanBatchResult,
                summary=f"Scan accounts after {scan.after or 'the first'}",
            )
            pages_this_run += 1
            scan.batches += 1
            scan.after = result.last_id
            scan.counts.add(result.counts)
            scan.problems = (scan.problems + result.problems)[:20]
            workflow.set_current_details(self._details(scan))
            if result.done:
                scan.events_per_run.append(workflow.info().get_current_history_length())
                return ScanReport(
                    scan_id=scan.scan_id,
                    as_of=scan.as_of,
                    counts=scan.counts,
                    batches=scan.batches,
                    runs=scan.runs,
                    events_per_run=scan.events_per_run,
                    problems=scan.problems,
                )
            if (
                pages_this_run >= (scan.batches_per_run or result.batches_per_run)
                or workflow.info().is_continue_as_new_suggested()
            ):
                scan.events_per_run.append(workflow.info().get_current_history_length())
                scan.runs += 1
                workflow.continue_as_new(scan)

    @workflow.query(description="How far the scan got: accounts, colours, saves started so far.")
    def progress(self) -> ScanInput | None:
        return self._progress

    @staticmethod
    def _details(scan: ScanInput) -> str:
        c = scan.counts
        return (
            f"### Risk scan {scan.as_of:%Y-%m-%d}\n"
            f"**Accounts scanned:** {c.accounts:,} "
            f"(green {c.green:,}, yellow {c.yellow:,}, red {c.red:,})"
            f"\n\n**Saves:** {c.saves_started:,} started, {c.saves_joined:,} joined, "
            f"{c.trigger_failures:,} failed · **pages:** {scan.batches} · **run:** {scan.runs}"
        )
