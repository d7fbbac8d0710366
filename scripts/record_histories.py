"""Record histories for the replay gate: a playbook's main paths, driven on the time-skipping server.

    PYTHONPATH=$PWD python scripts/record_histories.py            # adds to tests/histories/encrypted/

Recorded histories are append-only: this never deletes or overwrites a file, it only adds the ones
that are missing. Payloads are encrypted with the fixed test key in ``tests/codec_keys.py`` (what
production histories look like); ``tests/test_replay.py`` replays them, and the older plaintext ones
in ``tests/histories/``, with the current ``SaveWorkflow`` and fails on nondeterminism, which is
what would break saves already running in production.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playbook_defs.vocabulary import OutcomeKind
from tests import codec_keys
from worker.devtools.simulate import Scenario, Simulator

OUT = Path(__file__).resolve().parents[1] / "tests" / "histories" / "encrypted"


def scenarios() -> list[Scenario]:
    return [
        Scenario("product_issue", contact_after=timedelta(hours=20), promise="kept", outcome=OutcomeKind.SAVED),
        Scenario("budget", contact_after=timedelta(hours=60), promise="broken", outcome=OutcomeKind.LOST),
    ]


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    written = 0
    with tempfile.TemporaryDirectory() as tmp:
        async with Simulator.running(Path(tmp), codec_keys.converter()) as sim:
            for scenario in scenarios():
                account = await sim.run(scenario)
                runs = [r for r in await sim.runs_of(account) if r.run_id not in seen]
                for number, run in enumerate(runs, start=1):
                    seen.add(run.run_id)
                    assert run.history is not None
                    path = out / f"{scenario.name}-{number}-{run.summary().phase}.json"
                    if path.exists():
                        print(f"kept {path.name} (recorded histories are never overwritten)")
                        continue
                    path.write_text(run.history.to_json(), encoding="utf-8")
                    written += 1
                print(f"{scenario.name}: {len(runs)} runs")
    print(f"wrote {written} new histories to {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    asyncio.run(main(parser.parse_args().out))
