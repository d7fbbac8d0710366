"""Promises to the customer: due dates, lateness, approval of large discounts, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from playbook_defs.vocabulary import OwnerRole
from tests.unit.conftest import OPENED, hours, new_save
from workflows.models import AddCommitment, CommitmentStatus, FulfilCommitment, TaskSource
from workflows.save import commitments, tasks

NOW = OPENED + hours(2)


def promise(**kw: object) -> AddCommitment:
    base: dict[str, object] = {
        "what": "Weekly call until the fix ships",
        "owner": OwnerRole.CSM,
        "due_in": timedelta(days=7),
    }
    return AddCommitment.model_validate(base | kw)


@given(
    due_days=st.integers(min_value=1, max_value=60), delivered_after_hours=st.integers(min_value=0, max_value=90 * 24)
)
def test_a_promise_kept_late_counts_as_broken(due_days: int, delivered_after_hours: int) -> None:
    s = new_save()
    c, approval = commitments.add(s, promise(due_in=timedelta(days=due_days)), NOW)
    assert approval is None and c.status is CommitmentStatus.OPEN
    assert c.due_at == NOW + timedelta(days=due_days)
    delivered = NOW + hours(delivered_after_hours)
    commitments.fulfil(s, FulfilCommitment(commitment_id=c.id), delivered)
    assert s.commitment(c.id).status is CommitmentStatus.FULFILLED
    assert c.overdue is (delivered > c.due_at)


def test_a_discount_above_the_guardrail_waits_for_its_approver() -> None:
    s = new_save("budget")
    policy = s.playbook.concessions
    assert policy is not None
    small, _ = commitments.add(s, promise(discount_pct=policy.max_discount_pct_without_approval), NOW)
    assert small.status is CommitmentStatus.OPEN
    big, approval = commitments.add(s, promise(discount_pct=policy.max_discount_pct_without_approval + 1), NOW)
    assert big.status is CommitmentStatus.AWAITING_APPROVAL and approval is not None
    assert approval.source is TaskSource.APPROVAL and approval.owner == policy.approver
    assert commitments.refuse_fulfil(s, FulfilCommitment(commitment_id=big.id)) is not None
    tasks.complete(s, approval, "Finance", "", NOW + hours(1), approved=False)
    assert s.commitment(big.id).status is CommitmentStatus.REJECTED


@pytest.mark.parametrize(
    ("request_kw", "refusal"),
    [
        ({"due_in": None}, "exactly one of due_at or due_in"),
        ({"due_at": OPENED + hours(1)}, "exactly one of due_at or due_in"),
        ({"due_in": None, "due_at": OPENED}, "is in the past"),
        ({"due_in": timedelta(0)}, "longer than zero"),
    ],
)
def test_a_promise_without_a_future_due_date_is_refused(request_kw: dict[str, object], refusal: str) -> None:
    message = commitments.refuse_add(new_save(), promise(**request_kw), NOW)
    assert message is not None and refusal in message


def test_fulfilling_an_unknown_or_delivered_promise_is_refused_with_the_known_ones() -> None:
    s = new_save()
    c, _ = commitments.add(s, promise(), NOW)
    assert "known: c1" in (commitments.refuse_fulfil(s, FulfilCommitment(commitment_id="c9")) or "")
    commitments.fulfil(s, FulfilCommitment(commitment_id=c.id), NOW)
    assert "already fulfilled" in (commitments.refuse_fulfil(s, FulfilCommitment(commitment_id=c.id)) or "")


def test_no_new_promises_once_the_save_closed() -> None:
    s = new_save()
    s.closed_at, s.closed_reason = NOW, "recovered"
    from workflows import rules

    s.stage = rules.current_stage(s)
    assert "closed" in (commitments.refuse_add(s, promise(), NOW) or "")
