"""People act on a save through Temporal updates; a wrong request gets a clear refusal."""

from __future__ import annotations

import pytest

from playbook_defs.vocabulary import OutcomeKind, OwnerRole, TriggerKind
from tests.harness import Harness
from worker.runtime.save_client import SaveError
from workflows.models import AddCommitment, CompleteTask, FulfilCommitment, RecordOutcome
from workflows.save import SaveWorkflow


async def test_an_unknown_or_finished_task_is_refused_with_the_reason(harness: Harness) -> None:
    await harness.start("northwind", TriggerKind.PRODUCT_GAP)
    with pytest.raises(SaveError, match=r"unknown task 'acknowledgement_call'; open tasks: .*acknowledgment_call"):
        await harness.act("northwind", SaveWorkflow.complete_task, CompleteTask(task_id="acknowledgement_call"))

    done = await harness.act(
        "northwind", SaveWorkflow.complete_task, CompleteTask(task_id="acknowledgment_call", by="Sam Ortiz")
    )
    assert done.status.value == "done"
    with pytest.raises(SaveError, match=r"task 'acknowledgment_call' is already done \(.*, by Sam Ortiz\)"):
        await harness.act("northwind", SaveWorkflow.complete_task, CompleteTask(task_id="acknowledgment_call"))

    state = await harness.state("northwind")
    assert state.tasks["acknowledgment_call"].done_by == "Sam Ortiz"  # the refusal changed nothing


async def test_commitments_and_outcomes_are_checked_before_they_are_recorded(harness: Harness) -> None:
    await harness.start("bluepeak", TriggerKind.LOW_USAGE)
    with pytest.raises(SaveError, match="give exactly one of due_at or due_in"):
        await harness.act(
            "bluepeak", SaveWorkflow.add_commitment, AddCommitment(what="Training plan", owner=OwnerRole.CSM)
        )
    with pytest.raises(SaveError, match=r"unknown commitment 'c9'"):
        await harness.act("bluepeak", SaveWorkflow.fulfil_commitment, FulfilCommitment(commitment_id="c9"))
    with pytest.raises(SaveError, match="a partially saved outcome needs arr_retained"):
        await harness.act(
            "bluepeak",
            SaveWorkflow.record_outcome,
            RecordOutcome(kind=OutcomeKind.PARTIALLY_SAVED, reason="downgraded"),
        )
    with pytest.raises(SaveError, match=r"unknown success criteria \['happy'\]; this playbook's are"):
        await harness.act(
            "bluepeak",
            SaveWorkflow.record_outcome,
            RecordOutcome(kind=OutcomeKind.SAVED, reason="renewed", criteria_met=["happy"]),
        )
    state = await harness.state("bluepeak")
    assert state.commitments == [] and state.outcome is None and state.stage.value != "recovery"
