"""The simulator behind ``saves demo-history`` drives a relapse to its end, every time."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from playbook_defs.vocabulary import OutcomeKind
from tests import codec_keys
from worker.devtools.simulate import Scenario, Simulator
from workflows.postmortem import Verdict

RELAPSE = Scenario("budget", contact_after=timedelta(hours=30), outcome=OutcomeKind.SAVED, relapse=True)


async def test_a_relapsed_save_reopens_and_is_archived_lost_each_time(tmp_path: Path) -> None:
    """A relapse is a save, then a skip of days that lands just before the reopened save's first timer,
    then an outcome. Sent as that timer fired, the outcome stranded the save on the test server (about
    one run in four hung ``saves demo-history``); three in a row pass only if none strands."""
    async with Simulator.running(tmp_path, codec_keys.converter()) as sim:
        for _ in range(3):
            await asyncio.wait_for(sim.run(RELAPSE), timeout=60)
        records = await sim.services.archive.records(account_id="tinkerbox")
    reopened = [r for r in records if r.reopened_from is not None]
    assert len(records) == 6 and len(reopened) == 3
    assert all(r.figures.outcome is Verdict.LOST for r in reopened)
    assert {r.reopened_from for r in reopened} == {r.save_id for r in records if r.reopened_from is None}
