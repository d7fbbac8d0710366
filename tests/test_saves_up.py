"""The README's run command, end to end: ``saves up --demo`` starts a real Temporal dev server with
its UI, the worker, the HTTP API and six live demo saves on the demo clock; within seconds of the
scaled clock a save breaks its first-contact rule and escalates to the executive sponsor; a signed
curl-style trigger starts one more save, which ``saves show`` explains; the demo's promise goes late
and its rescued save enters recovery, as ``saves list`` and ``saves show`` tell; Ctrl-C stops
everything."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from worker.api.signature import HEADER, sign
from worker.devtools.eventually import eventually
from worker.devtools.servers import free_port
from workflows.search_attributes import PLAYBOOK

ROOT = Path(__file__).resolve().parents[1]
SPEED = 17280  # one demo day per 5 real seconds: a 24-hour rule breaks after 5 s, the executive hears at 15 s
CLI = [sys.executable, "-m", "worker.cli"]
DEMO_SAVES = {
    "save-northwind": "product_issue",
    "save-bluepeak": "value_roi",
    "save-harborline": "service_relationship",
    "save-tinkerbox": "budget",
    "save-quillstone": "competitive_threat",
    "save-orbitfoods": "champion_departure",
}


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for(lines: queue.Queue[str], text: str, seen: list[str], timeout: float = 90) -> str:
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


async def _saves_listed(client: Client) -> dict[str, Any]:
    return {
        w.id: w.typed_search_attributes.get(PLAYBOOK)
        async for w in client.list_workflows("WorkflowType = 'Save' AND ExecutionStatus = 'Running'")
    }


async def _running_saves(client: Client, expected: dict[str, str]) -> dict[str, Any]:
    """The running saves and their playbooks, once they are ``expected`` (visibility lags a little)."""
    return await eventually(
        partial(_saves_listed, client),
        lambda listed: listed == expected,
        what=f"the running saves to be {sorted(expected)}",
        timeout=30,
        interval=0.2,
    )


async def _ids(client: Client, query: str) -> list[str]:
    return [
        w.id async for w in client.list_workflows(f"WorkflowType = 'Save' AND ExecutionStatus = 'Running' AND {query}")
    ]


async def _first(client: Client, query: str, within: float) -> list[str]:
    """The saves that answer ``query`` as soon as there are any, waiting at most ``within`` seconds."""
    return await eventually(
        partial(_ids, client, query), what=f"a save to answer {query!r}", timeout=within, interval=0.5
    )


async def test_saves_up_demo_runs_live_saves_takes_signed_triggers_and_stops_cleanly(tmp_path: Path) -> None:
    port, ui_port, api_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "SAVES_UI_PORT": str(ui_port),
        "SAVES_API_PORT": str(api_port),
        "SAVES_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("SAVES_WEBHOOK_SECRET", None)
    env.pop("SAVES_DATA_DIR", None)
    env.pop("SAVES_ENCRYPTION_KEYS", None)  # saves up makes its own key
    up = subprocess.Popen(
        [*CLI, "up", "--demo", "--demo-speed", str(SPEED), "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen: list[str] = []
    try:
        lines = _lines(up)
        api_line = _wait_for(lines, "API: http", seen)
        _wait_for(lines, "Demo: six saves open", seen)
        output = "".join(seen)
        assert f"http://localhost:{ui_port}/namespaces/default/workflows" in output
        assert f"export SAVES_TEMPORAL_ADDRESS=localhost:{port}" in output  # not the default address
        assert "Demo clock: 1 real minute = 12 demo days" in output
        assert (tmp_path / ".saves" / "demo-playbooks" / "budget.yaml").exists()
        with urllib.request.urlopen(f"http://localhost:{ui_port}/", timeout=10) as page:
            assert page.status == 200  # the Web UI answers
        client = await Client.connect(f"localhost:{port}")
        assert await _running_saves(client, DEMO_SAVES) == DEMO_SAVES
        data = tmp_path / ".saves"
        assert (data / "temporal.db").exists() and (data / "crm.db").exists()

        # Customer data reaches the dev server encrypted with the key saves up made; the UI is
        # pointed at the codec server, which decrypts for a browser on this machine.
        assert oct((data / "encryption_keys").stat().st_mode)[-3:] == "600"
        history = await client.get_workflow_handle("save-northwind").fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
        assert started.metadata["encoding"] == b"binary/encrypted" and b"demo-northwind" not in started.data
        with urllib.request.urlopen(f"http://localhost:{ui_port}/api/v1/settings", timeout=10) as page:
            codec_endpoint = json.loads(page.read())["Codec"]["Endpoint"]
        assert codec_endpoint == f"http://127.0.0.1:{api_port}/codec"
        ui_origin = {"Origin": f"http://localhost:{ui_port}"}
        async with httpx.AsyncClient(timeout=30) as http:
            pre = await http.options(
                f"{codec_endpoint}/decode", headers={**ui_origin, "Access-Control-Request-Method": "POST"}
            )
            assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == ui_origin["Origin"]
            wire = {"metadata": {k: base64.b64encode(v).decode() for k, v in started.metadata.items()}}
            codec_body = {"payloads": [{**wire, "data": base64.b64encode(started.data).decode()}]}
            decoded = await http.post(
                f"{codec_endpoint}/decode", json=codec_body, headers={**ui_origin, "X-Namespace": "default"}
            )
            assert decoded.status_code == 200, decoded.text
            assert b"demo-northwind" in base64.b64decode(decoded.json()["payloads"][0]["data"])

        # A CRM webhook, signed as the README shows, starts a seventh save.
        base = api_line.split("API: ")[1].split()[0]
        assert base == f"http://127.0.0.1:{api_port}"
        secret = (data / "webhook_secret").read_text().strip()
        assert oct((data / "webhook_secret").stat().st_mode)[-3:] == "600"
        body = json.dumps(
            {
                "event_id": "sf-42",
                "account_id": "maplecrest",
                "kind": "low_usage",
                "source": "salesforce",
                "signals": {"usage_pct": 31},
                "rule": "usage_below_50pct",
                "rule_version": "3",
            }
        ).encode()
        json_type = {"content-type": "application/json"}
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            unsigned = await http.post("/triggers", content=body, headers=json_type)
            assert unsigned.status_code == 401
            signed = await http.post("/triggers", content=body, headers={**json_type, HEADER: sign([secret], body)})
            assert signed.status_code == 202, signed.text
            assert signed.json()["started"] is True and signed.json()["playbook"] == "value_roi"
            # `saves sign` signs with the same secret the API accepts; a redelivery is a no-op
            cli_sig = (
                (
                    await asyncio.to_thread(
                        subprocess.run,
                        [*CLI, "sign"],
                        input=body,
                        env=env,
                        cwd=tmp_path,
                        check=True,
                        capture_output=True,
                        timeout=60,
                    )
                )
                .stdout.decode()
                .strip()
            )
            again = await http.post("/triggers", content=body, headers={**json_type, HEADER: cli_sig})
            assert again.status_code == 202 and again.headers.get("idempotent-replayed") == "true"
            assert again.json() == signed.json()

        expected = {**DEMO_SAVES, "save-maplecrest": "value_roi"}
        assert await _running_saves(client, expected) == expected

        # On the demo clock the headline happens while one watches: a broken first-contact rule,
        # then an escalation up to the executive sponsor (level 2) on an enterprise save.
        broken = await _first(client, "SaveFirstContactBroken = true", within=30)
        executive = await _first(
            client, "SaveTier = 'enterprise' AND SaveEscalationLevel >= 2 AND SaveFirstContactBroken = true", within=40
        )
        assert broken and executive
        show_env = {**env, "SAVES_TEMPORAL_ADDRESS": f"localhost:{port}"}

        async def saves(*args: str) -> subprocess.CompletedProcess[str]:
            """A ``saves`` command in another terminal, as the README's walk-through runs it."""
            done = await asyncio.to_thread(
                subprocess.run, [*CLI, *args], env=show_env, cwd=tmp_path, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
            return done

        shown = await saves("show", "maplecrest")
        assert "Why it started: low usage from salesforce; rule usage_below_50pct v3; usage_pct=31" in shown.stdout
        account = executive[0].removeprefix("save-")
        details = await saves("show", account)
        assert "(demo clock)" in details.stdout and "Demo clock: 1 real minute = 12 demo days" in details.stdout
        assert "on the demo clock) broken" in details.stdout and "executive sponsor" in details.stdout
        assert f"Temporal: localhost:{port}" in details.stderr  # a command names the server it talks to

        # The demo's people act on the demo clock too. Finance approves Tinkerbox's 40% bridge on
        # demo day 1 and nobody delivers it by demo day 3: the promise goes late and escalates.
        # Ben Carter records Quillstone as saved on demo day 4: it enters recovery.
        await _first(client, "SaveAccountId = 'quillstone' AND SaveStage = 'recovery'", within=40)
        recovering = (await saves("list", "--stage", "recovery", "--outcome", "saved")).stdout
        assert "1 save" in recovering and "quillstone" in recovering, recovering
        quillstone = (await saves("show", "quillstone")).stdout
        assert "Stage: recovery" in quillstone and "Outcome: saved" in quillstone, quillstone
        tinkerbox = await eventually(
            partial(saves, "show", "tinkerbox"),
            lambda shown: "Commitment c1 (Sales): overdue since" in shown.stdout,
            what="Tinkerbox's promise to go late",
            timeout=30,
            interval=1.0,
        )
        late = next(line for line in tinkerbox.stdout.splitlines() if "Commitment c1 (Sales): overdue since" in line)
        assert "escalated to CS manager" in late, tinkerbox.stdout
        assert "awaiting approval" not in tinkerbox.stdout  # Finance approved it
    finally:
        os.killpg(up.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            raise
    assert up.returncode == 0, "".join(seen)
