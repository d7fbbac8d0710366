"""The rule that applies an inbound CRM event to a save's state: the CRM's time and people, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from playbook_defs.loader import load_playbooks
from playbook_defs.vocabulary import OwnerRole, Tier, TriggerKind
from workflows.contracts import AccountSnapshot, InboundEvent, InboundKind, TouchChannel
from workflows.models import CrmDecision, CrmEventRecord, SaveState, TaskStatus, Trigger
from workflows.rules import new_state
from workflows.save.crm_sync import apply_crm_event

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


@pytest.fixture
def s() -> SaveState:
    playbook = load_playbooks().get("value_roi")  # first contact within 48 hours
    account = AccountSnapshot(
        account_id="northwind", name="Northwind", tier=Tier.ENTERPRISE, arr=240000, csm="Sam Ortiz", csm_id="501"
    )
    trigger = Trigger(trigger_id="t1", account_id="northwind", kind=TriggerKind.MANUAL)
    state = new_state("run-1", account, playbook, trigger, T0, None)
    first = state.tasks[state.first_contact.step_id]
    first.status, first.opened_at, first.due_at = TaskStatus.OPEN, T0, state.first_contact.deadline
    return state


def touch(at: datetime, crm: str = "hubspot", account: str = "northwind") -> InboundEvent:
    return InboundEvent(
        crm=crm,
        kind=InboundKind.CUSTOMER_TOUCH,
        source_id="calls-9001",
        at=at,
        account_id=account,
        channel=TouchChannel.CALL,
        contact="Priya Nair",
        by="Sam Ortiz",
    )


def apply(s: SaveState, heard: list[CrmEventRecord], event: InboundEvent, now: datetime) -> CrmEventRecord | None:
    result = apply_crm_event(s, heard, event, now)
    if result.record:
        heard.append(result.record)
    return result.record


def test_a_task_done_in_the_crm_is_done_at_the_crm_s_time_by_its_person_once(s: SaveState) -> None:
    task_id = s.first_contact.step_id
    done = InboundEvent(
        crm="hubspot",
        kind=InboundKind.TASK_COMPLETED,
        source_id="1201",
        at=hours(10),
        task_key=f"run-1/task/{task_id}",
        by="Sam Ortiz",
        account_id="northwind",
    )
    heard: list[CrmEventRecord] = []
    result = apply_crm_event(s, heard, done, hours(12))
    assert result.completed_task == task_id and result.record is not None
    heard.append(result.record)
    task = s.tasks[task_id]
    assert (task.status, task.done_at, task.done_by) == (TaskStatus.DONE, hours(10), "Sam Ortiz")
    assert result.record.text.startswith("Done in HubSpot by Sam Ortiz")
    assert (s.first_contact.at, s.first_contact.kept) == (hours(10), True)
    again = apply_crm_event(s, heard, done, hours(13))
    assert again.record is None and again.completed_task is None
    escalation = done.model_copy(update={"source_id": "1202", "task_key": f"run-1/task/{task_id}/escalation/1"})
    assert apply(s, heard, escalation, hours(13)).decision is CrmDecision.IGNORED  # type: ignore[union-attr]


def test_a_call_made_at_hour_20_keeps_the_48_hour_rule_though_heard_later(s: SaveState) -> None:
    record = apply(s, [], touch(hours(20)), hours(30))
    assert record is not None and record.decision is CrmDecision.APPLIED
    assert (s.first_contact.at, s.first_contact.kept) == (hours(20), True)
    assert s.tasks[s.first_contact.step_id].status is TaskStatus.DONE
    assert "within the 48-hour window" in record.text


def test_a_call_made_at_hour_50_records_the_rule_broken_with_the_real_time(s: SaveState) -> None:
    s.first_contact.kept = False  # the save marked it overdue at hour 48
    record = apply(s, [], touch(hours(50)), hours(51))
    assert (s.first_contact.at, s.first_contact.kept) == (hours(50), False)
    assert record is not None and "after the 48-hour window" in record.text
    assert s.tasks[s.first_contact.step_id].done_at == hours(50)


def test_touches_that_are_not_first_contact_change_nothing(s: SaveState) -> None:
    heard: list[CrmEventRecord] = []
    assert apply(s, heard, touch(hours(-2)), hours(1)).decision is CrmDecision.IGNORED  # type: ignore[union-attr]
    other = touch(hours(2), account="bluepeak").model_copy(update={"source_id": "x"})
    assert apply(s, heard, other, hours(3)).decision is CrmDecision.IGNORED  # type: ignore[union-attr]
    assert s.first_contact.at is None
    apply(s, heard, touch(hours(5)), hours(6))
    later = touch(hours(7)).model_copy(update={"source_id": "calls-9002"})
    assert apply(s, heard, later, hours(8)).decision is CrmDecision.IGNORED  # type: ignore[union-attr]
    assert s.first_contact.at == hours(5)


def test_a_task_deleted_in_the_crm_needs_attention_and_a_reopen_is_refused(s: SaveState) -> None:
    task_id = s.first_contact.step_id
    deleted = InboundEvent(
        crm="salesforce", kind=InboundKind.TASK_DELETED, source_id="00T1", at=hours(3), task_key=f"run-1/task/{task_id}"
    )
    record = apply(s, [], deleted, hours(4))
    assert record is not None and record.needs_attention and record.decision is CrmDecision.APPLIED
    assert "deleted in Salesforce" in record.text and s.tasks[task_id].is_active  # not recreated, not dropped
    s.tasks[task_id].status, s.tasks[task_id].done_at = TaskStatus.DONE, hours(5)
    reopened = deleted.model_copy(update={"kind": InboundKind.TASK_REOPENED, "at": hours(6)})
    refused = apply(s, [], reopened, hours(7))
    assert refused is not None and refused.decision is CrmDecision.REFUSED
    assert s.tasks[task_id].status is TaskStatus.DONE


def test_an_owner_changed_in_the_crm_becomes_the_save_s_owner_for_that_role(s: SaveState) -> None:
    changed = InboundEvent(
        crm="hubspot",
        kind=InboundKind.OWNER_CHANGED,
        source_id="company-1-csm-502",
        at=hours(3),
        account_id="northwind",
        role=OwnerRole.CSM,
        owner_id="502",
        owner_name="Dana Reyes",
        by="Mei Tanaka",
    )
    heard: list[CrmEventRecord] = []
    result = apply_crm_event(s, heard, changed, hours(4))
    assert result.owner_change is not None
    assert (result.owner_change.previous, result.owner_change.name, result.owner_change.at) == (
        "Sam Ortiz",
        "Dana Reyes",
        hours(3),
    )
    assert (s.account.csm, s.account.csm_id) == ("Dana Reyes", "502")
    assert result.record is not None
    heard.append(result.record)
    same_owner_later = changed.model_copy(update={"at": hours(5)})  # the company modified again
    assert apply(s, heard, same_owner_later, hours(6)).decision is CrmDecision.IGNORED  # type: ignore[union-attr]
    assert len(s.owner_changes) == 1
