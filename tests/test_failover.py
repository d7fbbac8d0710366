"""Two `saves worker` processes share a task queue; one is killed (SIGKILL) while it holds work of
a save in flight, and the other finishes the save: no step lost, no email sent twice.

The work is held in flight at two places: waiting on the store (every write blocked), and in the
middle of an SMTP conversation (the server holds the recipient), where a worker that dies must
leave the email to be sent by the other."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.testing import WorkflowEnvironment

from activities.store.db import create_schema, make_engine
from activities.store.outbox import Outbox
from activities.store.sql_crm import SqlCrm
from playbook_defs.loader import load_playbooks
from playbook_defs.vocabulary import CancellationReason, TriggerKind
from tests.conftest import smtp_server
from tests.harness import SmtpSink
from worker.demo import load_demo_crm
from worker.devtools.eventually import eventually
from worker.runtime.save_client import SaveClient, workflow_id
from worker.runtime.settings import Settings
from workflows.models import Trigger

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def workers(count: int, env: dict[str, str], logs: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``saves worker`` processes running this checkout's code."""
    procs = []
    try:
        for n in range(count):
            with (logs / f"worker-{n}.log").open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "worker.cli", "worker"],
                        cwd=logs,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    )
                )
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class GatedSmtp(SmtpSink):
    """An SMTP server that, while the gate is shut, holds every conversation at the recipient."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.held = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if not self.gate.is_set():
            self.held += 1
            await asyncio.get_running_loop().run_in_executor(None, self.gate.wait)
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def gated_smtp() -> Iterator[GatedSmtp]:
    with smtp_server(GatedSmtp()) as sink:
        try:
            yield sink
        finally:
            sink.gate.set()  # release held conversations, or the server cannot stop


@contextmanager
def held(where: str, store: Path, smtp: GatedSmtp) -> Iterator[None]:
    """Hold the save's work in flight until the block ends."""
    if where == "store":  # the store's write lock: every write of the save waits
        lock = sqlite3.connect(store, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            lock.execute("ROLLBACK")
            lock.close()
    else:
        smtp.gate.clear()
        try:
            yield
        finally:
            smtp.gate.set()


@pytest.mark.parametrize("where", ["store", "smtp"])
async def test_a_killed_worker_s_save_is_finished_by_the_other(
    where: str, fresh_dev_env: WorkflowEnvironment, gated_smtp: GatedSmtp, tmp_path: Path
) -> None:
    smtp = gated_smtp
    client = fresh_dev_env.client
    store = tmp_path / "crm.db"
    url = f"sqlite+aiosqlite:///{store}"
    engine = make_engine(url)
    await create_schema(engine)
    await load_demo_crm(engine)
    queue = f"failover-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SAVES_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "SAVES_TASK_QUEUE": queue,
        "SAVES_DATABASE_URL": url,
        "SAVES_DATA_DIR": str(tmp_path / "data"),
        "SAVES_SMTP_HOST": "127.0.0.1",
        "SAVES_SMTP_PORT": str(smtp.port),
        "SAVES_LOG_LEVEL": "WARNING",
    }
    saves = SaveClient(client, queue, load_playbooks(Settings().playbook_dir), SqlCrm(engine))
    try:
        with workers(2, env, tmp_path) as procs:
            by_identity = {f"{p.pid}@{socket.gethostname()}": p for p in procs}  # the SDK's default

            async def both_polling() -> bool:
                return all("Worker polling" in (tmp_path / f"worker-{n}.log").read_text() for n in range(len(procs)))

            await eventually(both_polling, what="both workers to poll", timeout=40, interval=0.2)

            handle = client.get_workflow_handle(workflow_id("northwind"))
            in_flight: dict[str, str] = {}
            wanted = {"store": None, "smtp": {"send_email", "escalate"}}[where]

            async def work_in_flight() -> bool:
                pending = (await handle.describe()).raw_description.pending_activities
                in_flight.clear()
                in_flight.update(
                    {
                        a.activity_id: a.last_worker_identity
                        for a in pending
                        if a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                        and (wanted is None or a.activity_type.name in wanted)
                    }
                )
                # at the SMTP server: every email in flight is mid-conversation
                return bool(in_flight) and (where != "smtp" or smtp.held >= len(in_flight))

            with held(where, store, smtp):
                await saves.trigger(
                    Trigger(
                        trigger_id="evt-1",
                        account_id="northwind",
                        kind=TriggerKind.CANCELLATION_REQUEST,
                        reason=CancellationReason.PRODUCT,
                        source="test",
                    )
                )
                await eventually(
                    work_in_flight, what=f"an activity to be held at the {where}", timeout=40, interval=0.2
                )
                victim_identity = next(iter(in_flight.values()))
                victim = by_identity[victim_identity]
                survivor_identity = next(i for i in by_identity if i != victim_identity)
                killed = {a for a, who in in_flight.items() if who == victim_identity}
                victim.send_signal(signal.SIGKILL)
                victim.wait()

            async def still_open() -> list[str]:
                description = (await handle.describe()).raw_description
                left = [
                    f"{a.activity_type.name} (state {a.state}, attempt {a.attempt}): {a.last_failure.message}"
                    for a in description.pending_activities
                ]
                return [*left, "a workflow task"] if description.HasField("pending_workflow_task") else left

            await eventually(
                still_open,
                lambda left: not left,
                what="the survivor to finish the save's work",
                timeout=40,
                interval=0.2,
            )

            history = await handle.fetch_history()
            scheduled = {
                e.event_id: e.activity_task_scheduled_event_attributes.activity_id
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            }
            started = {
                e.event_id: e.activity_task_started_event_attributes
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
            }
            completed_by: dict[str, tuple[str, int]] = {}
            for e in history.events:
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                    attrs = e.activity_task_completed_event_attributes
                    start = started[attrs.started_event_id]
                    completed_by[scheduled[attrs.scheduled_event_id]] = (start.identity, start.attempt)
            for activity_id in killed:
                assert activity_id in completed_by, f"activity {activity_id} of the killed worker was lost"
                identity, attempt = completed_by[activity_id]
                assert identity == survivor_identity and attempt >= 2

            state = await saves.state("northwind")
            emails = await Outbox(engine).emails("northwind")
            delivered = Counter("".join(str(m["X-Save-Key"]).split()) for m in smtp.messages)
            assert emails and {e.status for e in emails} == {"sent"}
            assert delivered == Counter({e.key: 1 for e in emails}), "an email was lost or sent twice"
            assert state.emails_sent == len(emails)
            crm_tasks = await SqlCrm(engine).tasks("northwind")
            opened = {f"{state.save_id}/task/{t.id}" for t in state.tasks.values() if t.opened_at}
            assert opened and {t.key for t in crm_tasks} == opened
            assert all(t.crm_task_id for t in state.tasks.values() if t.opened_at)
            assert all(step.done_at for step in state.automated.values() if step.status.value != "pending")
    finally:
        await engine.dispose()
