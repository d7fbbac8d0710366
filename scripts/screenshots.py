"""Take the README's screenshots of the Temporal UI with a real headless browser.

    python scripts/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

It runs ``saves up --demo`` itself (in a temporary directory, on free ports, with no SAVES_*
settings, as a newcomer runs it): a Temporal dev server whose UI decodes through the API's codec
server, the worker, the API, the demo CRM and six saves on the demo clock, one demo day per real
minute. It waits (about four minutes) until the demo's Tinkerbox save has broken its first-contact
rule, reached the executive sponsor and let its promise go late, and the demo has put Quillstone
into recovery, then photographs the UI with Debian's ``chromium`` in headless mode and stops
``saves up`` as Ctrl-C does. It installs nothing; without chromium it says so and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.client import Client  # noqa: E402

from worker.devtools.eventually import eventually  # noqa: E402
from worker.devtools.servers import free_port  # noqa: E402
from worker.runtime.listing import SaveFilter, list_saves  # noqa: E402

RUNNING = "ExecutionStatus = 'Running'"
BROKEN = f"{RUNNING} AND SaveFirstContactBroken = true"


SHOWN_TEXT = (
    "(() => document.body === null ? '' : [document.body.innerText, ...[...document.querySelectorAll('iframe')]"
    ".map(f => f.src ? new URL(f.src).searchParams.get('content') || '' : '')].join(' '))()"
)
"""The page's text, and the markdown of the frames in which the UI renders summaries and details."""


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
        probe = f"{SHOWN_TEXT}.includes({json.dumps(wait_for)})"
        while not self.evaluate(probe):
            if time.monotonic() > deadline:
                shown = Path(tempfile.gettempdir()) / "saves-screenshot-timeout.png"
                self.screenshot(shown)
                raise SystemExit(f"{url} never showed {wait_for!r}; what it showed: {shown}")
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
        broke = SaveFilter(sla_broken=True).query(datetime.now(UTC))  # the README's view
        browser.open(f"{workflows}?query={quote(broke)}", 1900, 560, "save-tinkerbox")
        browser.screenshot(out_dir / "2-broke-48-hour-rule.png")
        page = f"{workflows}/save-tinkerbox/{tinkerbox_run}"
        # Summaries and details are encrypted: these words show only once the codec server decoded them.
        browser.open(f"{page}/user-metadata", 1600, 1450, "Commitment c1 (Sales): overdue since", settle=3.0)
        browser.screenshot(out_dir / "3-summary-and-details.png")
        browser.open(f"{page}/timeline", 1600, 1200, "Escalate overdue commitment c1 to CS manager")
        browser.scroll_to("Timeline")
        browser.screenshot(out_dir / "4-timeline.png")
    finally:
        browser.close()


class DemoUp:
    """``saves up --demo`` itself, run as a newcomer runs it: in an empty directory, with no SAVES_*
    settings, on free ports. So the UI gets the codec endpoint, the saves run on the demo clock
    and the demo's people act, all exactly as in the README's one command."""

    def __init__(self, directory: Path) -> None:
        self.port, ui_port, api_port = free_port(), free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAVES_")}
        env.update(
            SAVES_UI_PORT=str(ui_port),
            SAVES_API_PORT=str(api_port),
            SAVES_LOG_LEVEL="WARNING",
            COLUMNS="200",
            PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "up", "--demo", "--port", str(self.port)],
            cwd=directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.ui = ""
        self._ready = threading.Event()
        threading.Thread(target=self._echo, daemon=True).start()

    def _echo(self) -> None:
        """Pass on what saves up prints (the demo's steps as they happen) and note the UI's address."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            print(f"  saves up | {line.rstrip()}", flush=True)
            if "Temporal UI: " in line:
                self.ui = line.split("Temporal UI: ", 1)[1].split("/namespaces/", 1)[0].strip()
            if "Demo: six saves open" in line:
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float = 180.0) -> None:
        if not self._ready.wait(timeout) or self.process.poll() is not None or not self.ui:
            raise SystemExit("saves up --demo did not start; its output is above")

    def stop(self) -> None:
        """What Ctrl-C in its terminal does."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


async def _accounts(client: Client, query: str) -> set[str]:
    return {row.account for row in await list_saves(client, f"WorkflowType = 'Save' AND {query}")}


async def main(out_dir: Path, chromium: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="saves-screens-") as tmp:
        up = DemoUp(Path(tmp))
        try:
            await asyncio.to_thread(up.wait_ready)
            client = await Client.connect(f"localhost:{up.port}")  # search attributes only: nothing to decrypt
            print("waiting (about four minutes) for tinkerbox to reach the executive sponsor and quillstone recovery")
            await eventually(
                partial(_accounts, client, f"{BROKEN} AND SaveEscalationLevel >= 2"),
                lambda accounts: "tinkerbox" in accounts,
                what="tinkerbox to break its first-contact rule and reach the executive sponsor",
                timeout=600,
                interval=2.0,
            )
            await eventually(
                partial(_accounts, client, f"{RUNNING} AND SaveStage = 'recovery'"),
                lambda accounts: "quillstone" in accounts,
                what="quillstone to enter recovery",
                timeout=600,
                interval=2.0,
            )
            run = (await list_saves(client, f"{BROKEN} AND SaveAccountId = 'tinkerbox'"))[0].run_id
            await asyncio.to_thread(take_pictures, chromium, up.ui, "default", run, out_dir)
        finally:
            up.stop()


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
