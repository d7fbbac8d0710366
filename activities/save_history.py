"""Reading a save's Temporal history: its runs, its final state, the emails it sent.

A save spans several runs linked by continue-as-new (save, recovery, exit; mid-phase rollovers).
Each run's start input carries the state the previous run left; the ``archive_save`` activity
scheduled when the save ends carries its final state. Those two facts plus event timestamps are
all a post-mortem needs, so nothing here re-implements the engine's bookkeeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from workflows.contracts import EmailRequest
from workflows.models import SaveInput, SaveState
from workflows.postmortem import (
    ARCHIVE_ACTIVITY,
    ArchiveRequest,
    EmailEvent,
    PostMortem,
    RunSummary,
    build_postmortem,
)

T = TypeVar("T")
_ENDINGS = {
    "workflow_execution_completed_event_attributes": "completed",
    "workflow_execution_continued_as_new_event_attributes": "continued_as_new",
    "workflow_execution_failed_event_attributes": "failed",
    "workflow_execution_terminated_event_attributes": "terminated",
    "workflow_execution_timed_out_event_attributes": "timed_out",
    "workflow_execution_canceled_event_attributes": "canceled",
}


class HistoryError(Exception):
    """A history that cannot be read as a save; the message says which and why."""


def _time(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


async def _decode(converter: DataConverter, payloads: Sequence[Payload], kind: type[T]) -> T | None:
    """Decode the first payload as ``kind`` (decrypting it with the converter's codec); None if the
    shape changed since it was written. A missing or wrong key raises: that is not a shape change."""
    if not payloads:
        return None
    first = list(payloads[:1])
    if converter.payload_codec is not None:
        first = await converter.payload_codec.decode(first)
    try:
        value = converter.payload_converter.from_payloads(first, [kind])[0]
    except (ValidationError, ValueError, TypeError):
        return None
    return value if isinstance(value, kind) else None


@dataclass
class RunFacts:
    """What one run of the save workflow tells a post-mortem."""

    workflow_id: str
    run_id: str
    started_at: datetime
    start: SaveInput | None
    previous_run_id: str | None
    ended_at: datetime | None
    ended_as: str
    events: int
    final: ArchiveRequest | None = None
    emails: list[EmailEvent] = field(default_factory=list)
    history: WorkflowHistory | None = None

    @property
    def save_id(self) -> str:
        """The save a run belongs to: the opening run's id, carried in the state afterwards."""
        if self.start is not None and self.start.state is not None:
            return self.start.state.save_id
        return self.run_id

    @property
    def opens_a_save(self) -> bool:
        return self.start is None or self.start.state is None

    def summary(self) -> RunSummary:
        state = self.start.state if self.start else None
        phase = state.stage.value if state is not None else "save"
        return RunSummary(
            run_id=self.run_id,
            phase=phase,
            started_at=self.started_at,
            ended_at=self.ended_at,
            ended_as=self.ended_as,
            events=self.events,
        )


async def parse_run(history: WorkflowHistory, converter: DataConverter = pydantic_data_converter) -> RunFacts:
    """The facts of one run; ``converter`` decrypts its payloads (the history itself stays as it came)."""
    events: Sequence[HistoryEvent] = history.events
    if not events or not events[0].HasField("workflow_execution_started_event_attributes"):
        raise HistoryError(f"history of {history.workflow_id} does not start with a workflow start")
    started = events[0].workflow_execution_started_event_attributes
    facts = RunFacts(
        workflow_id=history.workflow_id,
        run_id=started.original_execution_run_id or history.run_id,
        started_at=_time(events[0].event_time),
        start=await _decode(converter, started.input.payloads, SaveInput),
        previous_run_id=started.continued_execution_run_id or None,
        ended_at=None,
        ended_as="running",
        events=len(events),
        history=history,
    )
    for event in events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            name = attrs.activity_type.name
            if name == "send_email":
                mail = await _decode(converter, attrs.input.payloads, EmailRequest)
                if mail is not None:
                    facts.emails.append(EmailEvent(at=_time(event.event_time), template=mail.template, to=str(mail.to)))
            elif name == ARCHIVE_ACTIVITY:
                facts.final = await _decode(converter, attrs.input.payloads, ArchiveRequest) or facts.final
    last = events[-1]
    for attr, label in _ENDINGS.items():
        if last.HasField(attr):  # type: ignore[arg-type]
            facts.ended_as, facts.ended_at = label, _time(last.event_time)
    return facts


async def fetch_run(client: Client, workflow_id: str, run_id: str | None) -> RunFacts:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    return await parse_run(history, client.data_converter)


async def fetch_save_runs(
    client: Client, workflow_id: str, run_id: str | None = None, every_save: bool = False
) -> list[RunFacts]:
    """The runs of the save ``run_id`` belongs to (default: the latest run), oldest first.

    Walks back along continue-as-new links until the run that opened the save; with
    ``every_save``, on through earlier saves of this workflow id (relapses reopen as new runs).
    """
    runs = [await fetch_run(client, workflow_id, run_id)]
    while runs[0].previous_run_id and (every_save or not runs[0].opens_a_save):
        runs.insert(0, await fetch_run(client, workflow_id, runs[0].previous_run_id))
    return runs


def group_by_save(runs: Sequence[RunFacts]) -> dict[str, list[RunFacts]]:
    saves: dict[str, list[RunFacts]] = {}
    for run in runs:
        saves.setdefault(run.save_id, []).append(run)
    return saves


def final_state(runs: Sequence[RunFacts]) -> tuple[SaveState | None, str, bool]:
    """The save's last known state, its status, and whether that state is only partial."""
    last = runs[-1]
    if last.final is not None:
        return last.final.state, last.final.status, False
    latest_start = next((r.start.state for r in reversed(runs) if r.start and r.start.state), None)
    if last.ended_as == "running":
        return latest_start, "running", latest_start is None
    return latest_start, last.ended_as, True


def postmortem_of(
    runs: Sequence[RunFacts], now: datetime, live_state: SaveState | None = None, final: ArchiveRequest | None = None
) -> PostMortem:
    """The post-mortem of one save from its runs. ``live_state`` (a query) wins for a running save;
    ``final`` is the state the archive activity was handed (its own run's history is not over yet)."""
    state, status, partial = final_state(runs)
    if final is not None:
        state, status, partial = final.state, final.status, False
    elif live_state is not None and status == "running":
        state, partial = live_state, False
    if state is None:
        raise HistoryError(
            f"save {runs[0].save_id} of {runs[0].workflow_id} has no state in its history "
            "yet; is a worker running to answer the query?"
        )
    emails = [mail for run in runs for mail in run.emails]
    return build_postmortem(
        state,
        workflow_id=runs[0].workflow_id,
        emails=emails,
        runs=[r.summary() for r in runs],
        now=now,
        status=status,
        partial=partial,
    )
