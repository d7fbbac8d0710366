"""After the outcome: a relapse during recovery reopens the save; a lost save exits gracefully."""

from __future__ import annotations

from datetime import timedelta

from playbook_defs.vocabulary import CancellationReason, OutcomeKind, OwnerRole, TriggerKind
from tests.drive import record_saved
from tests.harness import Harness, close_to
from workflows.models import CompleteTask, RecordOutcome, TaskSource, TaskStatus
from workflows.save import SaveWorkflow


async def test_a_health_drop_during_recovery_reopens_the_save_linked_to_the_old_one(harness: Harness) -> None:
    opened = await harness.start("tinkerbox", TriggerKind.PAYMENT_PAST_DUE)
    await harness.act("tinkerbox", SaveWorkflow.complete_task, CompleteTask(task_id="budget_call"))
    recovering = await record_saved(harness, "tinkerbox", health=75)
    assert recovering.recovery is not None
    started = recovering.recovery.started_at

    await harness.sleep(days=10)  # the day-7 touchpoint read 75: still fine
    state = await harness.state("tinkerbox")
    assert state.recovery is not None and [r.health for r in state.recovery.readings] == [75]
    await harness.services.crm.set_health("tinkerbox", 31, await harness.now())
    await harness.sleep(days=5)  # the day-14 touchpoint reads 31, below the threshold of 50

    reopened = await harness.wait_open("tinkerbox", other_than=opened.save_id)
    assert reopened.previous is not None
    assert reopened.previous.save_id == opened.save_id
    assert reopened.previous.outcome is OutcomeKind.SAVED
    assert "health 31 below 50 at weekly touchpoint #2" in reopened.previous.reason
    assert close_to(reopened.previous.relapsed_at, started + timedelta(days=14))
    assert reopened.triggers[0].trigger.kind is TriggerKind.HEALTH_DROP
    assert reopened.triggers[0].trigger.signals == {"health": 31, "threshold": 50}
    assert reopened.playbook.id == "budget" and reopened.stage.value == "investigation"
    assert reopened.risk.value == "red"
    risk_path = [c.status for c in await harness.services.crm.risk_changes("tinkerbox")]
    assert risk_path == ["red", "yellow", "red"]
    old_tasks = [t for t in await harness.crm_tasks("tinkerbox") if t.save_id == opened.save_id]
    assert old_tasks and all(t.status in ("done", "cancelled") for t in old_tasks)


async def test_a_new_signal_during_recovery_reopens_with_the_playbook_it_calls_for(harness: Harness) -> None:
    opened = await harness.start("quillstone", TriggerKind.SPONSOR_DISENGAGED)
    await record_saved(harness, "quillstone")
    await harness.sleep(days=20)
    merged = await harness.trigger(
        "quillstone", TriggerKind.CANCELLATION_REQUEST, reason=CancellationReason.COMPETITOR, trigger_id="cancel-1"
    )
    assert merged.merged
    reopened = await harness.wait_open("quillstone", other_than=opened.save_id)
    assert reopened.playbook.id == "competitive_threat"
    assert reopened.triggers[0].trigger.trigger_id == "cancel-1"
    assert reopened.previous is not None and reopened.previous.playbook_id == "service_relationship"


async def test_a_lost_save_gets_an_exit_interview_and_a_graceful_goodbye(harness: Harness) -> None:
    await harness.start("northwind", TriggerKind.PRODUCT_GAP)
    await harness.sleep(days=3)
    await harness.act(
        "northwind",
        SaveWorkflow.record_outcome,
        RecordOutcome(kind=OutcomeKind.LOST, reason="moved to an in-house tool"),
    )
    state = await harness.wait_in_stage("northwind", "exit")
    await harness.sleep(minutes=1)
    exit_task = state.tasks["exit_interview"]
    assert exit_task.source is TaskSource.EXIT_INTERVIEW and exit_task.owner is OwnerRole.CSM
    assert all(
        t.status is TaskStatus.CANCELLED
        for t in state.tasks.values()
        if t.source is TaskSource.STEP and t.done_at is None
    )
    goodbye = [e for e in await harness.emails("northwind") if e.template == "exit_interview"]
    assert len(goodbye) == 1 and goodbye[0].to_address == "priya.nair@northwind.example.org"
    weekly_before = len([e for e in await harness.emails("northwind") if e.template == "weekly_update"])

    await harness.sleep(days=4)
    await harness.act(
        "northwind",
        SaveWorkflow.complete_task,
        CompleteTask(task_id="exit_interview", note="Needed on-prem; may return in 2027"),
    )
    result = await harness.result("northwind")
    assert result.outcome is OutcomeKind.LOST and result.closed_reason == "lost" and result.recovered is None
    final = await harness.state("northwind")
    assert final.stage.value == "closed" and final.risk.value == "red"
    assert final.outcome is not None and final.outcome.arr_retained == 0
    weekly_after = len([e for e in await harness.emails("northwind") if e.template == "weekly_update"])
    assert weekly_after == weekly_before  # the cadence stopped at the outcome
    assert all(t.status in ("done", "cancelled") for t in await harness.crm_tasks("northwind"))


async def test_an_ignored_exit_interview_escalates_and_the_save_still_closes(harness: Harness) -> None:
    await harness.start("bluepeak", TriggerKind.LOW_USAGE)
    await harness.act(
        "bluepeak", SaveWorkflow.record_outcome, RecordOutcome(kind=OutcomeKind.LOST, reason="company acquired")
    )
    state = await harness.wait_in_stage("bluepeak", "exit")
    assert state.exit_started_at is not None
    result = await harness.result("bluepeak")
    assert result.closed_reason == "lost"
    final = await harness.state("bluepeak")
    due = final.tasks["exit_interview"].due_at
    assert due is not None and due == state.exit_started_at + timedelta(days=14)
    assert [(e.level, e.to) for e in final.escalations if e.item == "task/exit_interview"] == [
        (1, OwnerRole.CS_MANAGER)
    ]
    assert close_to(final.closed_at, state.exit_started_at + timedelta(days=30))
