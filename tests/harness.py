"""Drive saves in tests the way people would, against a real Temporal server and store."""

from __future__ import annotations

import email
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.store.tables import CrmTask, OutboxEmail
from playbook_defs.loader import load_playbooks
from playbook_defs.vocabulary import CancellationReason, TriggerKind
from worker.demo import load_demo_crm
from worker.devtools.eventually import eventually
from worker.devtools.settle import settle, skip_past_due_timers, skip_to
from worker.runtime.runner import Services, build_services, build_worker
from worker.runtime.save_client import SaveClient, SaveError, TriggerResult, workflow_id
from worker.runtime.settings import Settings
from workflows.models import SaveResult, SaveState, Trigger
from workflows.save import SaveWorkflow


def close_to(actual: datetime | None, expected: datetime, slack: timedelta = timedelta(seconds=30)) -> bool:
    """Activities and workflow tasks take real milliseconds even while the server skips days."""
    return actual is not None and abs(actual - expected) < slack


class SmtpSink:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in str(m["To"])]


@dataclass
class Harness:
    env: WorkflowEnvironment
    settings: Settings
    services: Services
    saves: SaveClient
    smtp: SmtpSink
    touched: set[str] = field(default_factory=set)
    """Workflow ids of the saves this harness started, read or acted on."""

    @classmethod
    @asynccontextmanager
    async def running(
        cls,
        env: WorkflowEnvironment,
        settings: Settings,
        smtp: SmtpSink,
        activities: Callable[[Services], Sequence[Callable[..., Any]]] | None = None,
    ) -> AsyncIterator[Harness]:
        services = await build_services(settings)
        await load_demo_crm(services.engine)
        queue = f"saves-test-{uuid.uuid4().hex[:8]}"
        saves = SaveClient(env.client, queue, load_playbooks(settings.playbook_dir), services.crm)
        h = cls(env, settings, services, saves, smtp)
        acts = activities(services) if activities else services.activities()
        try:
            async with build_worker(env.client, queue, acts):
                yield h
        finally:
            await services.engine.dispose()

    @property
    def client(self) -> Client:
        return self.env.client

    async def trigger(
        self,
        account: str,
        kind: TriggerKind = TriggerKind.MANUAL,
        *,
        reason: CancellationReason | None = None,
        playbook: str | None = None,
        trigger_id: str | None = None,
        **extra: Any,
    ) -> TriggerResult:
        result = await self.saves.trigger(
            Trigger(
                trigger_id=trigger_id or uuid.uuid4().hex,
                account_id=account,
                kind=kind,
                reason=reason,
                playbook=playbook,
                source="test",
                **extra,
            )
        )
        self.touched.add(result.workflow_id)
        return result

    async def start(self, account: str, kind: TriggerKind = TriggerKind.MANUAL, **kw: Any) -> SaveState:
        await self.trigger(account, kind, **kw)
        return await self.wait_open(account)

    async def wait_open(self, account: str, other_than: str | None = None) -> SaveState:
        """The state once the save has opened; with ``other_than``, once a save other than that one has."""
        return await eventually(
            lambda: self.state(account),
            lambda state: other_than is None or state.save_id != other_than,
            what=f"the save for {account} to open",
            timeout=30,
            interval=0.025,
            ignore=(SaveError,),
        )

    async def state(self, account: str) -> SaveState:
        await self.settle(account)
        return await self.saves.state(account)

    async def settle(self, account: str) -> None:
        self.touched.add(workflow_id(account))
        await settle(self.client, workflow_id(account))

    async def wait_in_stage(self, account: str, stage: str) -> SaveState:
        """Poll until the save reaches ``stage`` (phase changes continue as new, briefly)."""
        return await eventually(
            lambda: self.state(account),
            lambda state: state.stage.value == stage,
            what=f"the save for {account} to reach stage {stage}",
            timeout=30,
            interval=0.025,
            ignore=(SaveError,),
        )

    async def history_lengths(self, account: str, first_run_id: str) -> list[int]:
        """Events in each run of the account's workflow, following continue-as-new from ``first_run_id``."""
        lengths = []
        run_id: str | None = first_run_id
        while run_id:
            history = await self.client.get_workflow_handle(workflow_id(account), run_id=run_id).fetch_history()
            lengths.append(len(history.events))
            last = history.events[-1]
            run_id = (
                last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                if last.HasField("workflow_execution_continued_as_new_event_attributes")
                else None
            )
        return lengths

    async def act(self, account: str, update: Any, request: Any) -> Any:
        self.touched.add(workflow_id(account))
        return await self.saves.update(account, update, request)

    async def sleep(self, **kw: float) -> None:
        """Skip time on the test server (to a moment, with retries: see ``skip_to``), and on past
        any timer of a save this harness touched that would fire just after (a test's next
        update must not race it: see ``skip_past_due_timers``)."""
        await skip_to(self.env, await self.now() + timedelta(**kw))
        await skip_past_due_timers(self.env, sorted(self.touched))

    async def result(self, account: str) -> SaveResult:
        """Wait for the save to close, skipping time.

        Only handles that ``start_workflow`` returned skip time while awaiting a result on the
        V1 test server; a handle looked up by id needs time skipping unlocked explicitly.
        """
        unlocked = getattr(self.env, "time_skipping_unlocked", None)
        assert unlocked is not None, "needs the time-skipping test server"
        async with unlocked():
            return await self.handle(account).result()

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    def handle(self, account: str) -> WorkflowHandle[SaveWorkflow, SaveResult]:
        return self.client.get_workflow_handle_for(SaveWorkflow.run, workflow_id(account))

    async def emails(self, account: str | None = None) -> list[OutboxEmail]:
        return await self.services.outbox.emails(account)

    async def crm_tasks(self, account: str | None = None) -> list[CrmTask]:
        return await self.services.crm.tasks(account)
