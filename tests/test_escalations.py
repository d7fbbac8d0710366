"""Escalation ladders: the 48-hour rule, overdue tasks, overdue commitments, a late outcome."""

from __future__ import annotations

from datetime import datetime, timedelta

from playbook_defs.vocabulary import OutcomeKind, OwnerRole, TriggerKind
from tests.harness import Harness, close_to
from workflows.models import (
    AddCommitment,
    CompleteTask,
    FlagHelp,
    FulfilCommitment,
    RecordOutcome,
    TaskStatus,
)
from workflows.save import SaveWorkflow

CS_MANAGER = "dana.reyes@ourco.example.com"
EXECUTIVE = "mei.tanaka@ourco.example.com"
CALL = "Call the customer to hear how they measure value"


def escalation_mails(h: Harness, address: str, about: str = "") -> list[str]:
    subjects = [" ".join(str(m["Subject"]).split()) for m in h.smtp.to(address)]
    return [s for s in subjects if "[Escalation" in s and about in s]


async def sleep_until(h: Harness, moment: datetime, plus: timedelta = timedelta(0)) -> None:
    remaining = moment + plus - await h.now()
    if remaining > timedelta(0):
        await h.sleep(seconds=remaining.total_seconds())


async def test_nothing_done_for_48_hours_escalates_to_the_cs_manager_then_the_executive(harness: Harness) -> None:
    # Value/ROI playbook: first contact within 48 h; ladder: CS manager at once, executive 48 h later.
    state = await harness.start("bluepeak", TriggerKind.LOW_USAGE)
    deadline = state.first_contact.deadline
    assert deadline - state.opened_at == timedelta(hours=48)

    await sleep_until(harness, deadline, -timedelta(minutes=5))
    state = await harness.state("bluepeak")
    assert state.first_contact.kept is None
    assert escalation_mails(harness, CS_MANAGER, CALL) == []

    await sleep_until(harness, deadline, timedelta(minutes=5))
    state = await harness.state("bluepeak")
    assert state.first_contact.kept is False
    first = [e for e in state.escalations if e.item == "task/discovery_call"]
    assert [(e.level, e.to) for e in first] == [(1, OwnerRole.CS_MANAGER)]
    assert close_to(first[0].at, deadline)
    subjects = escalation_mails(harness, CS_MANAGER, CALL)
    assert len(subjects) == 1 and "[Escalation L1]" in subjects[0] and subjects[0].endswith("is overdue")
    assert escalation_mails(harness, EXECUTIVE, CALL) == []
    crm = [t for t in await harness.crm_tasks("bluepeak") if t.key.endswith("discovery_call/escalation/1")]
    assert len(crm) == 1 and crm[0].title.startswith("Escalation L1") and crm[0].owner_name == "Dana Reyes"
    assert crm[0].owner_role == "cs_manager"

    await sleep_until(harness, deadline, timedelta(hours=48, minutes=5))
    state = await harness.state("bluepeak")
    ladder = [e for e in state.escalations if e.item == "task/discovery_call"]
    assert [(e.level, e.to) for e in ladder] == [(1, OwnerRole.CS_MANAGER), (2, OwnerRole.EXECUTIVE_SPONSOR)]
    assert close_to(ladder[1].at, deadline + timedelta(hours=48))
    assert len(escalation_mails(harness, EXECUTIVE, CALL)) == 1
    details = await harness.saves.details("bluepeak")
    assert "first-contact rule (48 h) broken" in details and "escalated to CS manager, executive sponsor" in details


async def test_completing_a_task_stops_its_ladder(harness: Harness) -> None:
    state = await harness.start("bluepeak", TriggerKind.LOW_USAGE)
    deadline = state.first_contact.deadline
    await sleep_until(harness, deadline, timedelta(hours=1))
    await harness.act("bluepeak", SaveWorkflow.complete_task, CompleteTask(task_id="discovery_call", by="Aisha Khan"))
    await sleep_until(harness, deadline, timedelta(days=5))
    state = await harness.state("bluepeak")
    assert [e.level for e in state.escalations if e.item == "task/discovery_call"] == [1]
    assert close_to(state.first_contact.at, deadline + timedelta(hours=1))
    assert state.first_contact.kept is False
    crm = {t.key: t for t in await harness.crm_tasks("bluepeak")}
    base = f"{state.save_id}/task/discovery_call"
    assert crm[base].status == "done"
    assert crm[f"{base}/escalation/1"].status == "done"
    assert f"{base}/escalation/2" not in crm


async def test_first_contact_within_the_limit_keeps_the_rule(harness: Harness) -> None:
    state = await harness.start("northwind", TriggerKind.PRODUCT_GAP)
    assert state.first_contact.deadline - state.opened_at == timedelta(hours=24)  # the playbook's own limit
    await harness.sleep(hours=20)
    await harness.act("northwind", SaveWorkflow.complete_task, CompleteTask(task_id="acknowledgment_call"))
    state = await harness.state("northwind")
    assert state.first_contact.kept is True
    assert state.tasks["acknowledgment_call"].status is TaskStatus.DONE


async def test_an_overdue_commitment_escalates_and_counts_as_broken(harness: Harness) -> None:
    await harness.start("harborline", TriggerKind.SPONSOR_DISENGAGED)
    await harness.act("harborline", SaveWorkflow.complete_task, CompleteTask(task_id="apology_call"))
    c = await harness.act(
        "harborline",
        SaveWorkflow.add_commitment,
        AddCommitment(what="Weekly check-in every Tuesday 10am", owner=OwnerRole.CSM, due_in=timedelta(days=3)),
    )
    assert c.id == "c1" and c.status.value == "open"
    await sleep_until(harness, c.due_at, timedelta(hours=1))
    state = await harness.state("harborline")
    assert [(e.level, e.to) for e in state.escalations if e.item == "commitment/c1"] == [(1, OwnerRole.CS_MANAGER)]
    assert state.commitments[0].overdue
    crm = [t for t in await harness.crm_tasks("harborline") if "commitment/c1" in t.key]
    assert {t.owner_role for t in crm} == {"csm", "cs_manager"}

    await sleep_until(harness, c.due_at, timedelta(hours=25))  # ladder: executive after 24 h
    done = await harness.act("harborline", SaveWorkflow.fulfil_commitment, FulfilCommitment(commitment_id="c1"))
    assert done.status.value == "fulfilled" and done.broken and not done.kept
    state = await harness.state("harborline")
    assert [e.to for e in state.escalations if e.item == "commitment/c1"] == [
        OwnerRole.CS_MANAGER,
        OwnerRole.EXECUTIVE_SPONSOR,
    ]


async def test_a_commitment_kept_on_time_never_escalates(harness: Harness) -> None:
    await harness.start("harborline", TriggerKind.SPONSOR_DISENGAGED)
    c = await harness.act(
        "harborline",
        SaveWorkflow.add_commitment,
        AddCommitment(what="Dedicated senior engineer", owner=OwnerRole.SUPPORT, due_in=timedelta(days=3)),
    )
    await harness.sleep(days=2)
    done = await harness.act("harborline", SaveWorkflow.fulfil_commitment, FulfilCommitment(commitment_id=c.id))
    assert done.kept
    await harness.sleep(days=5)
    state = await harness.state("harborline")
    assert not [e for e in state.escalations if e.item == "commitment/c1"]


async def test_a_discount_above_the_guardrail_waits_for_finance_approval(harness: Harness) -> None:
    await harness.start("tinkerbox", TriggerKind.PAYMENT_PAST_DUE)
    small = await harness.act(
        "tinkerbox",
        SaveWorkflow.add_commitment,
        AddCommitment(what="Quarterly billing", owner=OwnerRole.FINANCE, due_in=timedelta(days=5), discount_pct=10),
    )
    assert small.status.value == "open" and small.approval_task is None
    big = await harness.act(
        "tinkerbox",
        SaveWorkflow.add_commitment,
        AddCommitment(
            what="40% bridge for six months", owner=OwnerRole.SALES, due_in=timedelta(days=5), discount_pct=40
        ),
    )
    assert big.status.value == "awaiting_approval" and big.approval_task == "approve_c2"
    await harness.sleep(hours=1)
    state = await harness.state("tinkerbox")
    approval = state.tasks["approve_c2"]
    assert approval.owner is OwnerRole.FINANCE and approval.status is TaskStatus.OPEN
    assert not [t for t in await harness.crm_tasks("tinkerbox") if "commitment/c2" in t.key]

    try:
        await harness.act("tinkerbox", SaveWorkflow.fulfil_commitment, FulfilCommitment(commitment_id="c2"))
        raise AssertionError("fulfilling an unapproved concession must be refused")
    except Exception as exc:
        assert "waiting for approval" in str(exc)

    await harness.act(
        "tinkerbox", SaveWorkflow.complete_task, CompleteTask(task_id="approve_c2", by="Lee Wong", approved=False)
    )
    state = await harness.state("tinkerbox")
    assert state.commitment("c2").status.value == "rejected"


async def test_help_needed_notifies_the_team_and_escalates_when_ignored(harness: Harness) -> None:
    await harness.start("northwind", TriggerKind.PRODUCT_GAP)
    help_request = await harness.act(
        "northwind",
        SaveWorkflow.flag_help,
        FlagHelp(role=OwnerRole.ENGINEERING, what="A date for the bulk import fix", by="Sam Ortiz"),
    )
    await harness.sleep(minutes=5)
    engineering = "ines.duarte@ourco.example.com"
    assert any("[Help needed]" in str(m["Subject"]) for m in harness.smtp.to(engineering))
    state = await harness.state("northwind")
    task = state.tasks[help_request.task_id]
    assert task.owner is OwnerRole.ENGINEERING and task.status is TaskStatus.OPEN
    assert task.due_at is not None
    await sleep_until(harness, task.due_at, timedelta(minutes=5))
    state = await harness.state("northwind")
    assert [e.to for e in state.escalations if e.item == f"task/{task.id}"] == [OwnerRole.CS_MANAGER], state.escalations


async def test_no_outcome_by_the_deadline_escalates_and_the_save_keeps_waiting(harness: Harness) -> None:
    state = await harness.start("quillstone", TriggerKind.COMPETITOR_EVALUATION)
    due = state.outcome_watch.due_at
    assert due - state.opened_at == timedelta(days=30)
    await sleep_until(harness, due, timedelta(hours=1))
    state = await harness.state("quillstone")
    assert state.outcome_watch.overdue
    assert [(e.level, e.to) for e in state.escalations if e.item == "outcome"] == [(1, OwnerRole.CS_MANAGER)]
    assert state.stage.value in ("investigation", "plan", "intervention", "awaiting_outcome")
    await harness.sleep(days=20)
    outcome = await harness.act(
        "quillstone",
        SaveWorkflow.record_outcome,
        RecordOutcome(
            kind=OutcomeKind.PARTIALLY_SAVED,
            reason="kept two of three teams",
            arr_retained=80000,
            criteria_met=["customer_committed"],
        ),
    )
    assert outcome.arr_retained == 80000
    assert outcome.criteria_missed == ["differentiation_landed", "commitments_fulfilled"]
    state = await harness.wait_in_stage("quillstone", "recovery")
    assert state.outcome is not None and state.outcome.kind is OutcomeKind.PARTIALLY_SAVED
