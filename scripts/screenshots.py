"""Take the README's screenshots of the Temporal UI with a real headless browser.

    python scripts/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

It runs what ``saves up --demo`` runs (a Temporal dev server with its UI, the worker, the demo
CRM and six saves on the demo clock, one demo day per real minute) in a temporary directory on
free ports. It waits until the demo's tinkerbox save has broken its first-contact rule and
escalated to the executive sponsor and the demo has put quillstone into recovery, then photographs
the UI with Debian's ``chromium`` in headless mode. It installs nothing; without chromium it says
so and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playbook_defs.demo_clock import DEFAULT_SPEED, write_demo_playbooks  # noqa: E402
from playbook_defs.loader import load_playbooks  # noqa: E402
from worker.demo import load_demo_crm, play_demo, start_demo_saves  # noqa: E402
from worker.devtools.eventually import eventually  # noqa: E402
from worker.devtools.servers import free_port  # noqa: E402
from worker.runtime.codec import ensure_key_file  # noqa: E402
from worker.runtime.connect import connect  # noqa: E402
from worker.runtime.devserver import DevServer  # noqa: E402
from worker.runtime.listing import SaveFilter, list_saves  # noqa: E402
from worker.runtime.runner import build_services, build_worker  # noqa: E402
from worker.runtime.save_client import SaveClient, SaveError  # noqa: E402
from worker.runtime.settings import Settings  # noqa: E402

BROKEN = "ExecutionStatus = 'Running' AND SaveFirstContactBroken = true"


class Browser:
    """Headless chromium driven over the DevTools protocol on a pipe (no websocket library needed).

    Messages are JSON separated by NUL bytes; chromium reads fd 3 and writes fd 4.
    """

    def __init__(self, chromium: str) -> None:
        self._to_chrome_r, self._to_chrome_w = os.pipe()
        self._from_chrome_r, self._from_chrome_w = os.pipe()
        self._profile = tempfile.TemporaryDirectory(prefix="saves-chromium-")
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile.name}",
            "about:blank",
        ]
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{self._to_chrome_r} 4>&{self._from_chrome_w}', chromium, *flags],
            pass_fds=(self._to_chrome_r, self._from_chrome_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(self._to_chrome_r)
        os.close(self._from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome_w, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._from_chrome_r, 1 << 20)
                if not chunk:
                    raise SystemExit("chromium closed the DevTools pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise SystemExit(f"chromium refused {method}: {reply['error']}")
                return reply.get("result", {})

    def page(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return self.call(method, params, self.session)

    def evaluate(self, expression: str) -> Any:
        return self.page("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"].get("value")

    def open(
        self, url: str, width: int, height: int, wait_for: str, timeout: float = 30.0, settle: float = 1.5
    ) -> None:
        """Load ``url`` at this size and wait until the page shows ``wait_for``."""
        self.page(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        self.page("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        probe = f"document.body !== null && document.body.innerText.includes({json.dumps(wait_for)})"
        while not self.evaluate(probe):
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} never showed {wait_for!r}")
            time.sleep(0.3)
        time.sleep(settle)  # let the remaining requests land and the page settle before the picture

    def scroll_to(self, heading: str) -> None:
        """Scroll so the last element whose own text is ``heading`` sits at the top."""
        self.evaluate(
            "(() => { const all = [...document.querySelectorAll('body *')].filter(e =>"
            f" e.childElementCount === 0 && e.textContent.trim() === {json.dumps(heading)});"
            " if (all.length) all[all.length - 1].scrollIntoView({block: 'start'}); })()"
        )
        time.sleep(0.5)

    def screenshot(self, out: Path) -> None:
        data = self.page("Page.captureScreenshot", {"format": "png"})["data"]
        out.write_bytes(base64.b64decode(data))
        print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")

    def close(self) -> None:
        with contextlib.suppress(SystemExit):
            self.call("Browser.close")
        self.process.wait(timeout=15)
        os.close(self._to_chrome_w)
        os.close(self._from_chrome_r)
        self._profile.cleanup()


COLUMNS = [
    "Status",
    "Workflow ID",
    "SavePlaybook",
    "SaveStage",
    "SaveRisk",
    "SaveArr",
    "SaveFirstContactBroken",
    "SaveEscalationLevel",
    "SaveOverdueCount",
    "SaveOwnerId",
]


def take_pictures(chromium: str, ui: str, namespace: str, tinkerbox_run: str, out_dir: Path) -> None:
    """The four README pictures, in the order a CS leader would click."""
    browser = Browser(chromium)
    try:
        workflows = f"{ui}/namespaces/{namespace}/workflows"
        browser.open(workflows, 1600, 900, "Workflows")
        # The columns a leader picks once in the UI ("Configure columns"); the UI keeps them per browser.
        columns = {namespace: [{"label": c, "pinned": c in ("Status", "Workflow ID")} for c in COLUMNS]}
        browser.evaluate(f"localStorage.setItem('namespace-workflow-table-columns', {json.dumps(json.dumps(columns))})")
        running = SaveFilter().query(datetime.now(UTC))
        browser.open(f"{workflows}?query={quote(running)}", 1900, 700, "save-tinkerbox")
        browser.screenshot(out_dir / "1-running-saves.png")
        browser.open(f"{workflows}?query={quote(BROKEN)}", 1900, 480, "save-tinkerbox")
        browser.screenshot(out_dir / "2-broke-48-hour-rule.png")
        page = f"{workflows}/save-tinkerbox/{tinkerbox_run}"
        browser.open(f"{page}/user-metadata", 1600, 1250, "Current Details", settle=3.0)
        browser.screenshot(out_dir / "3-summary-and-details.png")
        browser.open(f"{page}/timeline", 1600, 1100, "first-contact window")
        browser.scroll_to("Timeline")
        browser.screenshot(out_dir / "4-timeline.png")
    finally:
        browser.close()


async def main(out_dir: Path, chromium: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="saves-screens-") as tmp:
        base = Path(tmp)
        server = DevServer(base / "saves", port=free_port(), ui_port=free_port())
        settings = Settings(
            data_dir=base / "saves",
            playbook_dir=write_demo_playbooks(base / "saves" / "demo-playbooks", DEFAULT_SPEED),
            temporal_address=server.address,
            task_queue="save-playbooks",
        )
        await server.start()
        services = None
        try:
            ensure_key_file(settings)  # payloads are encrypted, as with saves up
            client = await connect(settings)
            services = await build_services(settings)
            async with build_worker(client, settings.task_queue, services.activities()):
                await load_demo_crm(services.engine)
                saves = SaveClient(client, settings.task_queue, load_playbooks(settings.playbook_dir), services.crm)
                await start_demo_saves(saves, DEFAULT_SPEED)
                player = asyncio.create_task(play_demo(saves, DEFAULT_SPEED, print))
                print("waiting for tinkerbox to break its first-contact rule and reach the executive sponsor ...")

                async def escalated() -> bool:
                    rows = await list_saves(client, f"{BROKEN} AND SaveEscalationLevel >= 2")
                    return any(r.account == "tinkerbox" for r in rows)

                await eventually(escalated, what="tinkerbox to escalate", timeout=600, interval=1.0)

                async def in_recovery() -> bool:
                    try:
                        return (await saves.state("quillstone")).stage.value == "recovery"
                    except SaveError:
                        return False

                await eventually(in_recovery, what="quillstone to reach recovery", timeout=600, interval=1.0)
                await player
                run = (await list_saves(client, f"{BROKEN} AND SaveAccountId = 'tinkerbox'"))[0].run_id
                await asyncio.to_thread(
                    take_pictures, chromium, server.ui_url, settings.temporal_namespace, run, out_dir
                )
        finally:
            if services is not None:
                await services.engine.dispose()
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    if not Path(args.chromium).exists():
        raise SystemExit(
            f"no chromium at {args.chromium}; on Debian: apt-get install chromium (this script installs nothing itself)"
        )
    asyncio.run(main(args.out.resolve(), args.chromium))
