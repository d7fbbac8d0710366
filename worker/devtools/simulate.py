"""Real saves driven through scripted timelines on Temporal's time-skipping test server.

Used by ``saves demo-history`` (a season of past saves in the archive, so the report has
something to say on a fresh install) and by ``scripts/record_histories.py`` (the recorded
histories of the replay gate). Every save is the real workflow with the real activities;
only people's behaviour is scripted, and time passes in milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from activities.save_history import RunFacts, fetch_save_runs
from playbook_defs.loader import load_playbooks
from playbook_defs.vocabulary import OutcomeKind, OwnerRole, RootCauseCategory, TriggerKind
from worker.demo import load_demo_crm
from worker.devtools.eventually import NotYet, eventually
from worker.devtools.servers import ServerMissing, time_skipping_server
from worker.devtools.settle import settle, skip_past_due_timers, skip_to
from worker.devtools.steps import work_open_steps
from worker.runtime.runner import Services, build_services, build_worker
from worker.runtime.save_client import SaveClient, SaveError, workflow_id
from worker.runtime.settings import Settings
from workflows.models import (
    AddCommitment,
    CompleteTask,
    FulfilCommitment,
    RecordOutcome,
    RecordRootCause,
    SaveState,
    Trigger,
)
from workflows.postmortem import PostMortem
from workflows.rules import when
from workflows.save import SaveWorkflow

ACCOUNTS = {  # demo CRM account per playbook, with a trigger that playbook answers
    "product_issue": ("northwind", TriggerKind.PRODUCT_GAP),
    "value_roi": ("bluepeak", TriggerKind.LOW_USAGE),
    "service_relationship": ("harborline", TriggerKind.SPONSOR_DISENGAGED),
    "budget": ("tinkerbox", TriggerKind.PAYMENT_PAST_DUE),
    "competitive_threat": ("quillstone", TriggerKind.COMPETITOR_EVALUATION),
    "champion_departure": ("orbitfoods", TriggerKind.CHAMPION_DEPARTURE),
}


ROOT_CAUSE = RecordRootCause(
    whys=["Why leave?", "Why that?", "The real reason"],
    category=RootCauseCategory.VALUE,
    summary="value never shown to their leadership",
    by="simulated CSM",
)


class SimulationError(RuntimeError):
    """The simulation cannot run here; the message says what is missing."""


@dataclass
class Scenario:
    """How the people on one save behave."""

    playbook: str
    contact_after: timedelta = timedelta(hours=20)
    outcome: OutcomeKind = OutcomeKind.SAVED
    promise: str | None = None
    """``kept``, ``broken`` or None (no commitment made)."""
    relapse: bool = False
    decide_after: timedelta = timedelta(days=10)

    @property
    def name(self) -> str:
        parts = [self.playbook, self.outcome.value]
        if self.relapse:
            parts.append("relapse")
        return "-".join(parts)


class Simulator:
    def __init__(self, env: WorkflowEnvironment, services: Services, saves: SaveClient) -> None:
        self.env = env
        self.services = services
        self.saves = saves

    @classmethod
    @asynccontextmanager
    async def running(cls, data_dir: Path, converter: DataConverter) -> AsyncIterator[Simulator]:
        """A time-skipping server, a worker and a throwaway CRM store under ``data_dir``; payloads go
        through ``converter`` (the caller's keys, so the histories it archives stay readable)."""
        try:
            async with time_skipping_server(converter) as env:
                settings = Settings(data_dir=data_dir, database_url=None, smtp_host=None)
                services = await build_services(settings)
                try:
                    await load_demo_crm(services.engine)
                    queue = f"simulate-{uuid.uuid4().hex[:8]}"
                    saves = SaveClient(env.client, queue, load_playbooks(settings.playbook_dir), services.crm)
                    async with build_worker(env.client, queue, services.activities()):
                        yield cls(env, services, saves)
                finally:
                    await services.engine.dispose()
        except ServerMissing as exc:
            raise SimulationError(str(exc)) from None

    async def _state(
        self, account: str, other_than: str | None = None, stage: str | None = None, task: str | None = None
    ) -> SaveState:

        async def probe() -> SaveState:
            await settle(self.env.client, workflow_id(account))
            return await self.saves.state(account)

        def reached(state: SaveState) -> bool:
            return (
                (other_than is None or state.save_id != other_than)
                and (stage is None or state.stage.value == stage)
                and (task is None or task in state.tasks)
            )

        try:
            return await eventually(
                probe,
                reached,
                what=f"the save for {account} to reach {stage or 'open'}",
                timeout=60,
                interval=0.02,
                ignore=(SaveError,),
            )
        except NotYet as exc:
            raise SimulationError(str(exc)) from None

    async def _sleep_to(self, state: SaveState, offset: timedelta) -> None:
        await self._skip_to(state.opened_at + offset)

    async def _skip_to(self, target: datetime) -> None:
        await skip_to(self.env, target, attempts=6, per_attempt=6)

    async def _act(self, account: str, update: object, request: object) -> None:
        # A skip often lands a few milliseconds before one of the save's timers: an update that cancels
        # that timer as it fires strands the run on the test server (see worker.devtools.settle).
        await skip_past_due_timers(self.env, [workflow_id(account)])
        with contextlib.suppress(SaveError):  # already done, or the save moved on: people slip too
            await self.saves.update(account, update, request)

    async def _work_open_steps(self, account: str) -> None:
        await settle(self.env.client, workflow_id(account))
        state = await self.saves.state(account)
        await work_open_steps(self.saves, state, by="simulated CSM", root_cause=ROOT_CAUSE, tolerate_refusals=True)

    async def _close(self, account: str) -> None:
        unlocked = getattr(self.env, "time_skipping_unlocked", None)
        assert unlocked is not None
        async with unlocked():
            handle = self.env.client.get_workflow_handle(workflow_id(account))
            await asyncio.wait_for(handle.result(), 120)

    async def run(self, s: Scenario) -> str:
        """Drive one save from trigger to close; returns the account id."""
        account, kind = ACCOUNTS[s.playbook]
        await self.services.crm.set_health(account, 40, await self.env.get_current_time())
        await self.saves.trigger(
            Trigger(
                trigger_id=uuid.uuid4().hex, account_id=account, kind=kind, playbook=s.playbook, source="simulation"
            )
        )
        state = await self._state(account)
        if s.promise:
            await self._sleep_to(state, timedelta(hours=1))
            await self._act(
                account,
                SaveWorkflow.add_commitment,
                AddCommitment(what="Weekly call until the fix ships", owner=OwnerRole.CSM, due_in=timedelta(days=3)),
            )
        await self._sleep_to(state, s.contact_after)
        await self._act(
            account, SaveWorkflow.complete_task, CompleteTask(task_id=state.first_contact.step_id, by="simulated CSM")
        )
        await self._sleep_to(state, s.contact_after + timedelta(hours=1))
        await self._work_open_steps(account)
        if s.promise:
            at = s.contact_after + timedelta(hours=2) if s.promise == "kept" else timedelta(days=5)
            await self._sleep_to(state, max(at, s.contact_after + timedelta(hours=2)))
            await self._act(account, SaveWorkflow.fulfil_commitment, FulfilCommitment(commitment_id="c1"))
        await self._sleep_to(state, max(s.decide_after, s.contact_after + timedelta(hours=3)))
        arr = state.account.arr
        await self._act(
            account,
            SaveWorkflow.record_outcome,
            RecordOutcome(
                kind=s.outcome,
                reason=f"simulated {s.outcome.value.replace('_', ' ')}",
                arr_retained=round(arr * 0.6) if s.outcome is OutcomeKind.PARTIALLY_SAVED else None,
            ),
        )
        if s.outcome is OutcomeKind.LOST:
            await self._state(account, stage="exit", task="exit_interview")
            await self._act(account, SaveWorkflow.complete_task, CompleteTask(task_id="exit_interview"))
            await self._close(account)
            return account
        recovering = await self._state(account, stage="recovery")
        assert recovering.recovery is not None
        started = recovering.recovery.started_at
        if s.relapse:
            await self.services.crm.set_health(account, 30, await self.env.get_current_time())
            await self._skip_to(await self.env.get_current_time() + timedelta(days=8))
            await self._state(account, other_than=state.save_id)
            await self._act(
                account, SaveWorkflow.record_outcome, RecordOutcome(kind=OutcomeKind.LOST, reason="relapsed and left")
            )
            await self._state(account, stage="exit", task="exit_interview")
            await self._act(account, SaveWorkflow.complete_task, CompleteTask(task_id="exit_interview"))
            await self._close(account)
            return account
        await self.services.crm.set_health(account, 80, await self.env.get_current_time())
        for check in recovering.playbook.recovery.checks:
            await self._skip_to(started + check.at + timedelta(hours=2))
            await self._act(account, SaveWorkflow.complete_task, CompleteTask(task_id=check.id))
        await self._close(account)
        return account

    async def runs_of(self, account: str) -> list[RunFacts]:
        """Every run of the account's latest chain of saves (for recording histories)."""
        return await fetch_save_runs(self.env.client, workflow_id(account), every_save=True)


def season(count: int, seed: int = 7) -> list[Scenario]:
    """A season of saves for the demo: most answered within 48 hours, some late, a few very late.

    Behaviour model (illustrative, after a published benchmark: 55% saved when engaged within 48
    hours, 25% after 7 days): the later the first contact, the less
    often the customer stays. The report computes its figures from the saves' real histories.
    """
    rng = random.Random(seed)
    playbooks = list(ACCOUNTS)
    chances = {"fast": (0.45, 0.15), "mid": (0.25, 0.1), "slow": (0.12, 0.08)}
    out = []
    for i in range(count):
        speed = rng.choices(["fast", "mid", "slow"], weights=[55, 30, 15])[0]
        low, high = {"fast": (4, 46), "mid": (50, 160), "slow": (170, 300)}[speed]
        hours = rng.uniform(low, high)
        saved, partial = chances[speed]
        roll = rng.random()
        outcome = (
            OutcomeKind.SAVED
            if roll < saved
            else OutcomeKind.PARTIALLY_SAVED
            if roll < saved + partial
            else OutcomeKind.LOST
        )
        out.append(
            Scenario(
                playbook=playbooks[i % len(playbooks)],
                contact_after=timedelta(hours=hours),
                outcome=outcome,
                promise=rng.choice([None, "kept", "kept", "broken"]),
                relapse=outcome is OutcomeKind.SAVED and rng.random() < 0.15,
                decide_after=timedelta(hours=hours) + timedelta(days=rng.uniform(5, 25)),
            )
        )
    return out


_WHEN = re.compile(
    r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (\d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{2}:\d{2}) UTC\b"
)


def _shift_words(text: str, near: datetime, delta: timedelta) -> str:
    """Move the ``Tue 24 Nov 14:00 UTC`` moments in a sentence by ``delta`` (their year is the one nearest ``near``)."""

    def move(found: re.Match[str]) -> str:
        candidates = []
        for year in (near.year - 1, near.year, near.year + 1):
            with contextlib.suppress(ValueError):  # 29 Feb in a year without one
                candidates.append(datetime.strptime(f"{year} {found.group(1)}", "%Y %d %b %H:%M").replace(tzinfo=UTC))
        if not candidates:
            return found.group(0)
        return when(min(candidates, key=lambda c: abs(c - near)) + delta)

    return _WHEN.sub(move, text)


def _shift(value: Any, near: datetime, delta: timedelta) -> Any:
    if isinstance(value, datetime):
        return value + delta
    if isinstance(value, Enum):
        return value
    if isinstance(value, str):
        return _shift_words(value, near, delta)
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        return value.model_copy(update={name: _shift(getattr(value, name), near, delta) for name in fields})
    if isinstance(value, list | tuple):
        return type(value)(_shift(v, near, delta) for v in value)
    if isinstance(value, dict):
        return {k: _shift(v, near, delta) for k, v in value.items()}
    return value


def into_the_past(records: list[PostMortem], now: datetime, seed: int = 7, days: int = 182) -> list[PostMortem]:
    """The simulated saves spread over the last ``days`` (two quarters), every one over before today.

    The simulation runs its saves one after the other from today on, so their own dates lie in the
    future. Each save, with the saves that reopened it after a relapse, moves as one block to a
    random start in the window; each block gets an account id of its own (``northwind-07``), so
    blocks of one demo account cannot overlap or count as each other's relapse.
    """
    by_id = {r.save_id: r for r in records}

    def root(r: PostMortem) -> str:
        while r.reopened_from and r.reopened_from in by_id:
            r = by_id[r.reopened_from]
        return r.save_id

    chains: dict[str, list[PostMortem]] = {}
    for r in sorted(records, key=lambda r: r.opened_at):
        chains.setdefault(root(r), []).append(r)
    rng = random.Random(seed)
    end = (now - timedelta(days=1)).replace(microsecond=0)
    start = end - timedelta(days=days)
    moved = []
    for n, chain in enumerate(chains.values(), start=1):
        first = chain[0].opened_at
        last = max(r.closed_at or (r.timeline[-1].at if r.timeline else r.opened_at) for r in chain)
        latest = end - (last - first)
        begin = start + (latest - start) * rng.random() if latest > start else latest
        delta = begin - first
        account = f"{chain[0].account_id}-{n:02d}"
        for r in chain:
            shifted = _shift(r, r.opened_at, delta)
            moved.append(
                shifted.model_copy(
                    update={
                        "account_id": account,
                        "workflow_id": workflow_id(account),
                        "account_name": f"{r.account_name} ({n:02d})",
                        "generated_at": now,
                    }
                )
            )
    return sorted(moved, key=lambda r: r.opened_at)
