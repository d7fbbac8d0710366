"""End to end: `saves up` serves the API; a curl-style signed trigger starts a save that
`saves show` explains and `GET /saves` lists. A real dev server, worker, uvicorn and SQLite."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import free_port
from worker.api.signature import HEADER, sign

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from worker.cli import app; app()"]


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for(lines: queue.Queue[str], text: str, seen: list[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return line
    raise AssertionError(f"{text!r} never printed; output so far:\n{''.join(seen)}")


def test_saves_up_accepts_a_signed_trigger_over_http(tmp_path: Path) -> None:
    temporal_port, ui_port, api_port = free_port(), free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SAVES_DATA_DIR": str(tmp_path / "data"),
           "SAVES_UI_PORT": str(ui_port), "SAVES_API_PORT": str(api_port),
           "SAVES_TEMPORAL_ADDRESS": f"localhost:{temporal_port}", "SAVES_LOG_LEVEL": "WARNING"}
    env.pop("SAVES_WEBHOOK_SECRET", None)
    subprocess.run([*CLI, "crm", "import", str(ROOT / "worker" / "demo" / "crm.yaml")],
                   env=env, cwd=tmp_path, check=True, capture_output=True, timeout=60)
    up = subprocess.Popen([*CLI, "up", "--port", str(temporal_port)], env=env, cwd=tmp_path,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    try:
        lines = _lines(up)
        api_line = _wait_for(lines, "API: http", seen)
        base = api_line.split("API: ")[1].split()[0]
        assert base == f"http://127.0.0.1:{api_port}"
        secret = (tmp_path / "data" / "webhook_secret").read_text().strip()
        assert oct((tmp_path / "data" / "webhook_secret").stat().st_mode)[-3:] == "600"
        body = json.dumps({"event_id": "sf-42", "account_id": "bluepeak", "kind": "low_usage",
                           "source": "salesforce", "signals": {"usage_pct": 31},
                           "rule": "usage_below_50pct", "rule_version": "3"}).encode()
        with httpx.Client(base_url=base, timeout=30) as http:
            unsigned = http.post("/triggers", content=body, headers={"content-type": "application/json"})
            signed = http.post("/triggers", content=body, headers={
                "content-type": "application/json", HEADER: sign([secret], body)})
            # `saves sign` signs with the same secret the API accepts
            cli_sig = subprocess.run([*CLI, "sign"], input=body, env=env, cwd=tmp_path, check=True,
                                     capture_output=True, timeout=60).stdout.decode().strip()
            again = http.post("/triggers", content=body,
                              headers={"content-type": "application/json", HEADER: cli_sig})
            listed: list[dict[str, object]] = []
            for _ in range(100):  # the visibility store lags a little behind
                listed = http.get("/saves", headers={HEADER: sign([secret], b"")}).json()
                if listed and listed[0].get("stage"):
                    break
                time.sleep(0.1)
        assert unsigned.status_code == 401
        assert signed.status_code == 202, signed.text
        assert signed.json()["started"] is True and signed.json()["playbook"] == "value_roi"
        assert again.status_code == 202 and again.headers.get("idempotent-replayed") == "true"
        assert [(s["account_id"], s["playbook"], s["status"]) for s in listed] == [
            ("bluepeak", "value_roi", "running")]
        shown = subprocess.run([*CLI, "show", "bluepeak"], env={**env, "COLUMNS": "200"}, cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        why = "Why it started: low usage from salesforce; rule usage_below_50pct v3; usage_pct=31"
        assert why in shown.stdout
    finally:
        up.send_signal(signal.SIGINT)
        try:
            code = up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
            raise
    assert code == 0, "".join(seen)
