"""What encrypting every payload costs: CPU of this process (client + worker + codec) per save lifecycle.

    PYTHONPATH=$PWD python scripts/bench_codec.py [--rounds 3]

Two time-skipping servers run side by side in this process's event loop, one whose worker and
client use the plain pydantic converter, one with the AES-256-GCM codec. Each round runs the same
scripted lifecycles (every playbook: trigger, tasks, commitment, outcome, recovery or exit) on
both, alternating, and measures ``time.process_time()`` around each; the ratio is encrypted / plain
from the same run. The Temporal servers are other processes and not counted: their work does not
change with encryption (they store bytes either way).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.contrib.pydantic import pydantic_data_converter

from playbook_defs.vocabulary import OutcomeKind
from worker.devtools.simulate import ACCOUNTS, Scenario, Simulator
from worker.runtime.codec import converter_for, new_key, parse_keys
from worker.runtime.logs import configure_logging


def lifecycles() -> list[Scenario]:
    found = []
    for number, playbook in enumerate(ACCOUNTS):
        outcome = OutcomeKind.SAVED if number % 2 == 0 else OutcomeKind.LOST
        found.append(Scenario(playbook, contact_after=timedelta(hours=20), promise="kept", outcome=outcome))
    return found


async def main(rounds: int) -> None:
    configure_logging("console", "WARNING")
    encrypted = converter_for(parse_keys(new_key(), "a fresh key"))
    cpu = {"plain": 0.0, "encrypted": 0.0}
    saves = 0
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            Simulator.running(Path(tmp) / "plain", pydantic_data_converter) as plain,
            Simulator.running(Path(tmp) / "encrypted", encrypted) as sealed,
        ):
            for _ in range(rounds):
                for scenario in lifecycles():
                    for label, sim in (("plain", plain), ("encrypted", sealed)):
                        start = time.process_time()
                        await sim.run(scenario)
                        cpu[label] += time.process_time() - start
                    saves += 1
    payloads = [pydantic_data_converter.payload_converter.to_payloads([{"k": "v" * 2000}])[0]] * 2000
    codec = encrypted.payload_codec
    assert codec is not None
    start = time.process_time()
    await codec.decode(await codec.encode(payloads))
    per_payload = (time.process_time() - start) / len(payloads) * 1e6
    print(f"{saves} lifecycles each (trigger to recovery or exit), CPU of this process:")
    print(f"  plain      {cpu['plain']:7.2f} s  ({cpu['plain'] / saves * 1000:.0f} ms per save)")
    print(f"  encrypted  {cpu['encrypted']:7.2f} s  ({cpu['encrypted'] / saves * 1000:.0f} ms per save)")
    print(f"  encrypted / plain = {cpu['encrypted'] / cpu['plain']:.3f}x")
    print(f"  AES-256-GCM encode+decode of a 2 kB payload: {per_payload:.1f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args().rounds))
