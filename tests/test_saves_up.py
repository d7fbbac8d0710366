"""The README's run command: ``saves up --demo`` starts a real Temporal dev server with its UI, the
worker and six live demo saves; Ctrl-C stops everything."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from temporalio.client import Client

from tests.conftest import free_port
from workflows.search_attributes import PLAYBOOK


def _wait_for_line(process: subprocess.Popen[str], text: str, timeout: float = 90) -> list[str]:
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"{text!r} never printed; output was:\n{''.join(seen)}")


async def test_saves_up_demo_shows_six_live_saves_and_stops_cleanly(tmp_path: Path) -> None:
    port, ui_port = free_port(), free_port()
    env = {**os.environ, "SAVES_UI_PORT": str(ui_port), "SAVES_API_PORT": str(free_port()),
           "SAVES_LOG_LEVEL": "WARNING", "COLUMNS": "200",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "up", "--demo", "--port", str(port)], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output = "".join(_wait_for_line(process, "Demo: six saves open"))
        assert f"http://localhost:{ui_port}/namespaces/default/workflows" in output
        with urllib.request.urlopen(f"http://localhost:{ui_port}/", timeout=10) as page:
            assert page.status == 200  # the Web UI answers

        client = await Client.connect(f"localhost:{port}")
        expected = {"save-northwind": "product_issue", "save-bluepeak": "value_roi",
                    "save-harborline": "service_relationship", "save-tinkerbox": "budget",
                    "save-quillstone": "competitive_threat", "save-orbitfoods": "champion_departure"}
        listed: dict[str, str | None] = {}
        for _ in range(100):  # visibility is eventually consistent
            listed = {w.id: w.typed_search_attributes.get(PLAYBOOK) async for w in client.list_workflows(
                "WorkflowType = 'Save' AND ExecutionStatus = 'Running'")}
            if listed == expected:
                break
            await asyncio.sleep(0.2)
        assert listed == expected
        assert (tmp_path / ".saves" / "temporal.db").exists() and (tmp_path / ".saves" / "crm.db").exists()
    finally:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    assert process.returncode == 0
