"""Bare Temporal baselines for ``scripts/bench_scale.py``: workflows with nothing of ours in them.

``BareSave`` opens like a save (one activity, then it sleeps); ``BareLifecycle`` runs a given
number of activities, timers, updates and continue-as-new runs, the shape of a full save.
Run as a worker: ``python scripts/bench_bare.py ADDRESS QUEUE OPENED_FILE``.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

_opened: set[str] = set()


@activity.defn(name="bare_open")
async def bare_open(workflow_id: str) -> str:
    """Does nothing but be an activity: Temporal's cost of one activity."""
    _opened.add(workflow_id)
    return workflow_id


@workflow.defn(name="BareSave")
class BareSave:
    """One activity to open, then asleep until told to stop (or 30 days pass)."""

    def __init__(self) -> None:
        self.stop = False

    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            bare_open, workflow.info().workflow_id, start_to_close_timeout=timedelta(seconds=30)
        )
        await workflow.wait_condition(lambda: self.stop, timeout=timedelta(days=30))

    @workflow.signal
    def close(self) -> None:
        self.stop = True

    @workflow.query
    def opened(self) -> bool:
        return True


@dataclass
class Shape:
    activities: int
    timers: int
    updates: int
    runs: int
    queries: int = 0
    """Queries the driver made to follow the save (``saves show``); the bare workflow gets as many."""


@workflow.defn(name="BareLifecycle")
class BareLifecycle:
    """``activities`` activities and ``timers`` one-hour timers over ``runs`` runs, after ``updates`` updates."""

    def __init__(self) -> None:
        self.updates = 0

    @workflow.run
    async def run(self, shape: Shape) -> int:
        await workflow.wait_condition(lambda: self.updates >= shape.updates)
        per_run = max(shape.runs, 1)
        acts = -(-shape.activities // per_run)
        timers = -(-shape.timers // per_run)
        for i in range(max(acts, timers)):
            if i < min(acts, shape.activities):
                await workflow.execute_activity(bare_open, "x", start_to_close_timeout=timedelta(seconds=30))
            if i < min(timers, shape.timers):
                await workflow.sleep(timedelta(hours=1))
        if shape.runs > 1:
            workflow.continue_as_new(
                Shape(
                    activities=max(shape.activities - acts, 0),
                    timers=max(shape.timers - timers, 0),
                    updates=0,
                    runs=shape.runs - 1,
                )
            )
        return shape.activities

    @workflow.query
    def progress(self) -> int:
        return self.updates

    @workflow.update
    def poke(self) -> int:
        self.updates += 1
        return self.updates


async def serve(address: str, queue: str, opened_file: Path) -> None:
    client = await Client.connect(address)
    async with Worker(client, task_queue=queue, workflows=[BareSave, BareLifecycle], activities=[bare_open]):
        while True:  # the benchmark reads how many bare workflows have opened from this file
            opened_file.write_text(str(len(_opened)))
            await asyncio.sleep(0.25)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
