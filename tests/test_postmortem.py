"""Post-mortems of saves driven through known timelines on the time-skipping server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from playbook_defs.vocabulary import OutcomeKind, OwnerRole, RootCauseCategory, TriggerKind
from tests import codec_keys
from tests.harness import Harness
from worker.devtools.servers import time_skipping_server
from worker.devtools.steps import work_open_steps
from worker.reporting.pages import postmortem_html, postmortem_text
from worker.reporting.postmortem_source import postmortems
from worker.runtime.save_client import SaveError
from workflows.models import (
    AddCommitment,
    CompleteTask,
    FulfilCommitment,
    RecordOutcome,
    RecordRootCause,
)
from workflows.postmortem import ContactBucket, PostMortem, RecoveryResult, Verdict
from workflows.save import SaveWorkflow

POLL = timedelta(hours=8)
UNPROVEN_VALUE = RecordRootCause(
    whys=["Budget cut", "Cannot show ROI"], category=RootCauseCategory.VALUE, summary="unproven value", by="Aisha"
)


async def work_steps_until(
    h: Harness, account: str, until: timedelta, first_contact_at: timedelta | None = None
) -> None:
    """Do every open playbook task within ``POLL`` of it opening, except the first customer
    contact, which happens at ``first_contact_at`` after the save opened."""
    state = await h.state(account)
    while True:
        now = await h.now()
        elapsed = now - state.opened_at
        await work_open_steps(
            h.saves,
            state,
            by="Aisha",
            root_cause=UNPROVEN_VALUE,
            leave=[state.first_contact.step_id] if first_contact_at is None or elapsed < first_contact_at else [],
        )
        if elapsed >= until:
            return
        step = min(POLL, until - elapsed)
        if first_contact_at is not None and elapsed < first_contact_at:
            step = min(step, first_contact_at - elapsed)
        await h.sleep(seconds=step.total_seconds())
        state = await h.state(account)


async def one(h: Harness, target: str, save_id: str | None = None) -> PostMortem:
    found, source = await postmortems(h.client, h.services.archive, target, save_id)
    assert len(found) == 1 and source == "temporal"
    return found[0]


async def test_a_save_answered_in_30_hours_and_lost_tells_its_story(harness: Harness) -> None:
    await harness.start("bluepeak", TriggerKind.LOW_USAGE)
    await work_steps_until(harness, "bluepeak", timedelta(days=5), first_contact_at=timedelta(hours=30))
    await harness.act(
        "bluepeak", SaveWorkflow.record_outcome, RecordOutcome(kind=OutcomeKind.LOST, reason="moved to a cheaper tool")
    )
    await harness.wait_in_stage("bluepeak", "exit")
    await harness.sleep(days=1)
    await harness.act("bluepeak", SaveWorkflow.complete_task, CompleteTask(task_id="exit_interview"))
    await harness.result("bluepeak")

    pm = await one(harness, "bluepeak")
    f = pm.figures
    assert pm.status == "closed" and not pm.partial and pm.playbook_id == "value_roi"
    assert f.first_contact_hours is not None and 30 <= f.first_contact_hours < 30.2
    assert f.within_48h is True and f.first_contact_kept is True
    assert f.contact_bucket is ContactBucket.WITHIN_48H
    assert f.escalations_by_level == {} and f.tasks_on_time_pct == 100.0
    assert f.outcome is Verdict.LOST and f.arr_lost == f.arr and f.arr_retained == 0
    assert f.recovery is RecoveryResult.NOT_APPLICABLE
    assert f.days_to_outcome is not None and 5 <= f.days_to_outcome < 5.1
    assert [r.phase for r in pm.runs] == ["save", "exit"]
    kinds = [e.kind for e in pm.timeline]
    assert kinds[0] == "trigger" and kinds[-1] == "closed"
    assert kinds.index("outcome") < kinds.index("closed")
    assert any(e.kind == "email" and "exit interview" in e.text for e in pm.timeline)

    archived = await harness.services.archive.record(pm.save_id)
    assert archived is not None and archived.figures == pm.figures
    history = await harness.services.archive.history(pm.save_id)
    assert history is not None and len(history["runs"]) == 2


async def test_a_late_first_contact_a_broken_promise_two_escalation_levels_and_a_relapse(harness: Harness) -> None:
    opened = await harness.start("tinkerbox", TriggerKind.PAYMENT_PAST_DUE)
    await work_steps_until(harness, "tinkerbox", timedelta(hours=40))
    await harness.act(
        "tinkerbox",
        SaveWorkflow.add_commitment,
        AddCommitment(what="Send the ROI deck", owner=OwnerRole.CSM, due_in=timedelta(days=1)),
    )
    await harness.act(
        "tinkerbox",
        SaveWorkflow.add_commitment,
        AddCommitment(what="Quarterly billing approved", owner=OwnerRole.FINANCE, due_in=timedelta(days=2)),
    )
    await harness.sleep(hours=6)
    await harness.act("tinkerbox", SaveWorkflow.fulfil_commitment, FulfilCommitment(commitment_id="c1"))
    # first contact at 80 h; commitment c2 (due at 88 h) delivered at 138 h: both ladder levels fire
    await work_steps_until(harness, "tinkerbox", timedelta(hours=138), first_contact_at=timedelta(hours=80))
    await harness.act("tinkerbox", SaveWorkflow.fulfil_commitment, FulfilCommitment(commitment_id="c2"))
    await work_steps_until(harness, "tinkerbox", timedelta(days=7), first_contact_at=timedelta(hours=80))
    await harness.services.crm.set_health("tinkerbox", 75, await harness.now())
    await harness.act(
        "tinkerbox", SaveWorkflow.record_outcome, RecordOutcome(kind=OutcomeKind.SAVED, reason="renewal signed")
    )
    await harness.wait_in_stage("tinkerbox", "recovery")
    await harness.sleep(days=7, hours=1)
    await harness.act("tinkerbox", SaveWorkflow.complete_task, CompleteTask(task_id="touchpoint_1"))
    await harness.sleep(days=3)
    await harness.services.crm.set_health("tinkerbox", 31, await harness.now())
    await harness.sleep(days=5)  # the day-14 touchpoint reads 31: the save relapses and reopens
    reopened = await harness.wait_open("tinkerbox", other_than=opened.save_id)

    pm = await one(harness, "tinkerbox", opened.save_id)
    f = pm.figures
    assert pm.status == "reopened" and pm.save_id == opened.save_id
    assert f.first_contact_hours is not None and 80 <= f.first_contact_hours < 80.2
    assert f.within_48h is False and f.first_contact_kept is False
    assert f.contact_bucket is ContactBucket.DAYS_2_TO_7
    assert f.commitments_made == 2 and f.commitments_kept == 1 and f.commitments_broken == 1
    assert f.commitments_kept_pct == 50.0
    assert f.escalations_by_level == {"1": 2, "2": 1}
    assert f.escalations_by_role == {"cs_manager": 2, "executive_sponsor": 1}
    assert f.outcome is Verdict.SAVED and f.arr_retained == f.arr
    assert f.recovery is RecoveryResult.RELAPSED
    assert f.relapsed_after_days is not None and 14 <= f.relapsed_after_days < 14.2
    assert f.tasks_overdue == 1 and f.tasks_on_time_pct is not None and f.tasks_on_time_pct < 100
    texts = [e.text for e in pm.timeline]
    assert any(t.startswith("Promise broken") and "Quarterly billing" in t for t in texts)
    assert any(t.startswith("Relapse: health 31 below 50") for t in texts)
    assert [r.phase for r in pm.runs] == ["save", "recovery"]

    latest = await one(harness, "save-tinkerbox")
    assert latest.save_id == reopened.save_id and latest.status == "running"
    page = postmortem_html(latest)
    assert "still running" in page and "running (running)" not in page  # the open run of the runs table
    assert "late, broken or overdue" in page and "first-contact deadline" in page  # the chart's legend
    assert "first-contact rule (48 h)" in postmortem_text(pm)
    assert latest.reopened_from == opened.save_id and latest.figures.outcome is Verdict.OPEN
    assert (await harness.services.archive.record(opened.save_id)) is not None


async def test_once_temporal_forgot_a_save_the_post_mortem_comes_from_the_archive(harness: Harness) -> None:
    await harness.start("bluepeak", TriggerKind.LOW_USAGE)
    await harness.act("bluepeak", SaveWorkflow.complete_task, CompleteTask(task_id="discovery_call"))
    await harness.act("bluepeak", SaveWorkflow.record_outcome, RecordOutcome(kind=OutcomeKind.LOST, reason="acquired"))
    await harness.result("bluepeak")
    from_history = await one(harness, "bluepeak")

    async with time_skipping_server(codec_keys.converter()) as empty:  # a Temporal whose retention dropped the save
        found, source = await postmortems(empty.client, harness.services.archive, "bluepeak")
    assert source == "archive" and len(found) == 1
    assert found[0].save_id == from_history.save_id and found[0].figures == from_history.figures
    assert found[0].timeline == from_history.timeline
    with pytest.raises(SaveError, match="no save for save-quillstone"):
        await postmortems(None, harness.services.archive, "quillstone")
