"""Record the replay gate's histories: each playbook's main paths, driven on the time-skipping server.

    PYTHONPATH=$PWD python scripts/record_histories.py        # rewrites tests/histories/*.json

Run it after any intended change to the workflow's commands (a new activity, timer or phase):
``tests/test_replay.py`` replays every file with the current ``SaveWorkflow`` and fails on
nondeterminism, which is what would break saves already running in production.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playbook_defs.vocabulary import OutcomeKind
from worker.devtools.simulate import ACCOUNTS, Scenario, Simulator

OUT = Path(__file__).resolve().parents[1] / "tests" / "histories"


def scenarios() -> list[Scenario]:
    found = []
    for playbook in ACCOUNTS:
        found.append(Scenario(playbook, contact_after=timedelta(hours=20), promise="kept", outcome=OutcomeKind.SAVED))
        found.append(Scenario(playbook, contact_after=timedelta(hours=60), promise="broken", outcome=OutcomeKind.LOST))
    found.append(Scenario("budget", contact_after=timedelta(hours=30), outcome=OutcomeKind.SAVED, relapse=True))
    return found


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.json"):
        old.unlink()
    seen: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        async with Simulator.running(Path(tmp)) as sim:
            for scenario in scenarios():
                account = await sim.run(scenario)
                runs = [r for r in await sim.runs_of(account) if r.run_id not in seen]
                for number, run in enumerate(runs, start=1):
                    seen.add(run.run_id)
                    assert run.history is not None
                    name = f"{scenario.name}-{number}-{run.summary().phase}.json"
                    (OUT / name).write_text(run.history.to_json(), encoding="utf-8")
                print(f"{scenario.name}: {len(runs)} runs")
    print(f"wrote {len(seen)} histories to {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
