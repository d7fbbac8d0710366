"""Each of the six playbooks from trigger through outcome and the 90-day recovery.

A diligent team completes every task within six hours of it opening; the tests check which
tasks and emails happened at which offsets, that the weekly cadence stops at the outcome, and
what the recovery did, on the time-skipping server.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from playbook_defs.schema import StepKind
from playbook_defs.vocabulary import CancellationReason, OutcomeKind, TriggerKind
from tests.drive import complete_recovery_checks, record_saved, work_every_step
from tests.harness import Harness, close_to
from workflows.models import SaveState, TaskSource, TaskStatus

CASES = [
    # account (tier), trigger, playbook
    ("northwind", TriggerKind.CANCELLATION_REQUEST, CancellationReason.PRODUCT, "product_issue"),
    ("bluepeak", TriggerKind.LOW_USAGE, None, "value_roi"),
    ("harborline", TriggerKind.CANCELLATION_REQUEST, CancellationReason.SERVICE, "service_relationship"),
    ("tinkerbox", TriggerKind.PAYMENT_PAST_DUE, None, "budget"),
    ("quillstone", TriggerKind.COMPETITOR_EVALUATION, None, "competitive_threat"),
    ("orbitfoods", TriggerKind.CHAMPION_DEPARTURE, None, "champion_departure"),
]


def expected_open(state: SaveState, step_id: str) -> datetime:
    """When a step must open: its start offset, or when its last dependency was done if later."""
    step = state.playbook.step(step_id)
    moments = [state.opened_at + step.start_after]
    for dep in step.depends_on:
        if dep in state.tasks:
            done_at = state.tasks[dep].done_at
            assert done_at is not None
            moments.append(done_at)
        elif dep in state.automated:
            done = state.automated[dep].done_at
            assert done is not None
            moments.append(done)
    return max(moments)


@pytest.mark.parametrize(("account", "kind", "reason", "playbook"), CASES, ids=[c[3] for c in CASES])
async def test_playbook_runs_from_trigger_through_recovery(
    harness: Harness, account: str, kind: TriggerKind, reason: CancellationReason | None, playbook: str
) -> None:
    started = await harness.trigger(account, kind, reason=reason)
    opened = await harness.wait_open(account)
    assert opened.playbook.id == playbook
    assert opened.playbook.version == 1 and opened.playbook.digest
    t0 = opened.opened_at

    # Tier variants: only steps for this account's tier are in the save.
    tier = opened.account.tier
    for step in opened.playbook.steps:
        in_save = step.id in opened.tasks or step.id in opened.automated
        assert in_save == step.applies_to(tier), step.id
        assert (step.id in opened.skipped_steps) == (not step.applies_to(tier))

    state = await work_every_step(harness, account)

    # Every task opened exactly when the playbook says and was due within its window.
    for task in (t for t in state.tasks.values() if t.source is TaskSource.STEP):
        assert task.opened_at == expected_open(state, task.id), task.id
        assert task.due_at is not None and task.opened_at is not None
        if task.id == state.first_contact.step_id:
            assert task.due_at == t0 + state.playbook.first_contact_within
        else:
            assert task.due_at - task.opened_at == state.playbook.step(task.id).due_within
        assert task.status is TaskStatus.DONE and task.crm_task_id
    assert state.first_contact.kept is True
    assert state.escalations == []

    # Automated steps ran at their offsets; each email is in the outbox once, sent over SMTP.
    emails = await harness.emails(account)
    by_key = {e.key: e for e in emails}
    assert len(by_key) == len(emails)
    for step in state.playbook.steps:
        if step.id not in state.automated:
            continue
        auto = state.automated[step.id]
        assert auto.done_at == expected_open(state, step.id), step.id
        if step.kind is StepKind.EMAIL:
            mail = by_key[f"{state.save_id}/email/step/{step.id}"]
            assert mail.template == step.template and close_to(mail.created_at, auto.done_at)
            assert mail.status == "sent"

    # Outcome a little before day 30, then the recovery.
    now = await harness.now()
    outcome_at = t0 + timedelta(days=29)
    if outcome_at > now:
        await harness.sleep(seconds=(outcome_at - now).total_seconds())
    recovering = await record_saved(harness, account)
    assert recovering.recovery is not None and recovering.risk.value == "yellow"
    weekly = sorted(e.created_at for e in await harness.emails(account) if e.template == "weekly_update")
    assert len(weekly) == 4
    assert all(close_to(at, t0 + timedelta(days=7 * n)) for n, at in enumerate(weekly, start=1))
    internal = [e for e in await harness.emails(account) if e.template == "internal_status"]
    assert len(internal) == 4

    await complete_recovery_checks(harness, account)
    result = await harness.result(account)
    assert result.outcome is OutcomeKind.SAVED and result.recovered is True
    assert result.closed_reason == "recovered"

    final = await harness.state(account)
    r = final.recovery
    assert r is not None and r.completed and r.relapse is None
    start = r.started_at
    checks = {t.id: t for t in final.tasks.values() if t.source is TaskSource.RECOVERY_CHECK}
    for check in final.playbook.recovery.checks:
        assert checks[check.id].opened_at == start + check.at
        assert checks[check.id].status is TaskStatus.DONE
    assert r.touchpoints.count == 12  # weekly, days 7..84
    assert len(r.readings) == 12 + len(final.playbook.recovery.checks)
    emails = await harness.emails(account)
    reports = sorted(e.created_at for e in emails if e.template == "value_report")
    assert len(reports) == 3
    assert all(close_to(at, start + timedelta(days=30 * n)) for n, at in enumerate(reports, start=1))
    assert not [e for e in emails if e.template == "weekly_update" and e.created_at > start]
    assert final.risk.value == "green" and final.stage.value == "closed"
    risk_path = [c.status for c in await harness.services.crm.risk_changes(account)]
    assert risk_path[0] == "red" and risk_path[-2:] == ["yellow", "green"]
    assert all(t.status in ("done", "cancelled") for t in await harness.crm_tasks(account))

    lengths = await harness.history_lengths(account, started.run_id or "")
    assert len(lengths) == 2 and max(lengths) < 2000, lengths
    print(f"{playbook}: history events per run {lengths}")
