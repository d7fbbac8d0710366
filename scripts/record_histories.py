"""Record the replay gate's histories for a release: each playbook's main paths, driven on the
time-skipping server.

    PYTHONPATH=$PWD python scripts/record_histories.py 0.2.0     # writes tests/histories/0.2.0/*.json

Histories are append-only: run it once per release, into a new folder; it refuses to touch a folder
that exists. ``tests/test_replay.py`` replays every recorded history (every release) with the current
``SaveWorkflow``, so a release that would break saves started on an earlier one fails CI. A change to
the workflow's commands goes behind ``workflow.patched(...)`` so the old histories keep replaying.
Payloads are encrypted with the fixed test key in ``tests/codec_keys.py``, as production's are.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playbook_defs.vocabulary import OutcomeKind
from tests import codec_keys
from worker.devtools.simulate import ACCOUNTS, Scenario, Simulator

OUT = Path(__file__).resolve().parents[1] / "tests" / "histories"


def scenarios() -> list[Scenario]:
    found = []
    for playbook in ACCOUNTS:
        found.append(Scenario(playbook, contact_after=timedelta(hours=20), promise="kept", outcome=OutcomeKind.SAVED))
        found.append(Scenario(playbook, contact_after=timedelta(hours=60), promise="broken", outcome=OutcomeKind.LOST))
    found.append(Scenario("budget", contact_after=timedelta(hours=30), outcome=OutcomeKind.SAVED, relapse=True))
    return found


async def main(release: str) -> None:
    out = OUT / release
    if out.exists():
        raise SystemExit(f"{out} exists: recorded histories are append-only; name a new release")
    out.mkdir(parents=True)
    seen: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        async with Simulator.running(Path(tmp), codec_keys.converter()) as sim:
            for scenario in scenarios():
                account = await sim.run(scenario)
                runs = [r for r in await sim.runs_of(account) if r.run_id not in seen]
                for number, run in enumerate(runs, start=1):
                    seen.add(run.run_id)
                    assert run.history is not None
                    name = f"{scenario.name}-{number}-{run.summary().phase}.json"
                    (out / name).write_text(run.history.to_json(), encoding="utf-8")
                print(f"{scenario.name}: {len(runs)} runs")
    print(f"wrote {len(seen)} histories to {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: record_histories.py RELEASE   (e.g. 0.2.0)")
    asyncio.run(main(sys.argv[1]))
