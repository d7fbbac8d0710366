"""One running save per account: a second trigger joins it, concurrent triggers start one save."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import ValidationError
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from playbook_defs.vocabulary import CancellationReason, TriggerKind
from tests.harness import Harness
from worker.runtime.save_client import SaveError
from workflows.contracts import UNKNOWN_ACCOUNT
from workflows.models import SaveInput, Trigger
from workflows.save import SaveWorkflow


async def test_a_second_trigger_joins_the_running_save(harness: Harness) -> None:
    first = await harness.trigger(
        "northwind", TriggerKind.CANCELLATION_REQUEST, reason=CancellationReason.PRODUCT, trigger_id="evt-1"
    )
    opened = await harness.wait_open("northwind")
    second = await harness.trigger(
        "northwind", TriggerKind.SUPPORT_ESCALATION, trigger_id="evt-2", note="Sev-1 ticket escalated by their CTO"
    )
    assert not first.merged and second.merged
    await harness.sleep(minutes=1)
    state = await harness.state("northwind")
    assert state.save_id == opened.save_id and state.playbook.id == "product_issue"
    assert [(r.trigger.trigger_id, r.merged) for r in state.triggers] == [("evt-1", False), ("evt-2", True)]
    assert state.triggers[1].trigger.note == "Sev-1 ticket escalated by their CTO"


async def test_a_redelivered_trigger_is_recorded_once(harness: Harness) -> None:
    await harness.trigger("bluepeak", TriggerKind.LOW_USAGE, trigger_id="evt-9")
    await harness.wait_open("bluepeak")
    await harness.trigger("bluepeak", TriggerKind.LOW_USAGE, trigger_id="evt-9")
    await harness.sleep(minutes=1)
    state = await harness.state("bluepeak")
    assert [r.trigger.trigger_id for r in state.triggers] == ["evt-9"]


async def test_concurrent_triggers_start_exactly_one_save(harness: Harness) -> None:
    results = await asyncio.gather(
        *[harness.trigger("orbitfoods", TriggerKind.CHAMPION_DEPARTURE, trigger_id=f"evt-{n}") for n in range(10)]
    )
    assert len({r.workflow_id for r in results}) == 1
    await harness.wait_open("orbitfoods")
    await harness.sleep(minutes=1)
    state = await harness.state("orbitfoods")
    assert sorted(r.trigger.trigger_id for r in state.triggers) == sorted(f"evt-{n}" for n in range(10))
    assert sum(not r.merged for r in state.triggers) == 1
    history = await harness.handle("orbitfoods").fetch_history()
    starts = [e for e in history.events if e.HasField("workflow_execution_started_event_attributes")]
    assert len(starts) == 1


async def test_a_hundred_concurrent_triggers_get_one_save_and_exactly_one_started_answer(harness: Harness) -> None:
    results = await asyncio.gather(
        *[harness.trigger("quillstone", TriggerKind.COMPETITOR_EVALUATION, trigger_id=f"c-{n}") for n in range(100)]
    )
    assert len({(r.workflow_id, r.run_id) for r in results}) == 1
    assert sum(not r.merged for r in results) == 1
    assert {r.playbook for r in results} == {"competitive_threat"}
    state = await harness.wait_open("quillstone")
    starter = next(f"c-{n}" for n, r in enumerate(results) if not r.merged)
    assert state.triggers[0].trigger.trigger_id == starter and not state.triggers[0].merged
    await harness.sleep(minutes=1)
    state = await harness.state("quillstone")
    assert sorted(r.trigger.trigger_id for r in state.triggers) == sorted(f"c-{n}" for n in range(100))
    history = await harness.handle("quillstone").fetch_history()
    assert sum(e.HasField("workflow_execution_started_event_attributes") for e in history.events) == 1


async def test_unknown_account_or_unrouted_trigger_is_refused_before_anything_starts(harness: Harness) -> None:
    with pytest.raises(SaveError, match="unknown account 'nobody'"):
        await harness.trigger("nobody", TriggerKind.LOW_USAGE)
    with pytest.raises(SaveError, match="a manual trigger needs a playbook or a reason"):
        await harness.trigger("northwind", TriggerKind.MANUAL)
    with pytest.raises(SaveError, match="needs a reason"):
        await harness.trigger("northwind", TriggerKind.CANCELLATION_REQUEST)
    with pytest.raises(SaveError, match="unknown playbook 'nope'"):
        await harness.trigger("northwind", TriggerKind.MANUAL, playbook="nope")
    with pytest.raises(ValidationError, match="account_id"):
        await harness.trigger("bad id!", TriggerKind.LOW_USAGE)


async def test_a_save_for_an_account_missing_from_the_crm_fails_at_once_without_retrying(harness: Harness) -> None:
    """Data that can never succeed is a non-retryable error: the save fails with the reason, fast."""
    handle = await harness.client.start_workflow(
        SaveWorkflow.run,
        SaveInput(trigger=Trigger(trigger_id="t-ghost", account_id="ghost", kind=TriggerKind.LOW_USAGE, source="test")),
        id="save-ghost",
        task_queue=harness.saves.task_queue,
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    cause: BaseException | None = failed.value.cause
    while isinstance(cause, ActivityError):  # the read is a (local) activity
        cause = cause.cause
    assert isinstance(cause, ApplicationError) and cause.type == UNKNOWN_ACCOUNT and "ghost" in cause.message
    history = await handle.fetch_history()
    attempts = [
        json.loads(e.marker_recorded_event_attributes.details["data"].payloads[0].data)["attempt"]
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]
    attempts += [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert attempts == [1]
