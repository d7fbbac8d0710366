"""Scripts that work a save as a diligent team would, so tests can check what happened when."""

from __future__ import annotations

from datetime import timedelta

from playbook_defs.vocabulary import OutcomeKind, RootCauseCategory
from tests.harness import Harness
from worker.devtools.steps import steps_left, work_open_steps
from workflows.models import (
    CompleteTask,
    RecordOutcome,
    RecordRootCause,
    SaveState,
)
from workflows.save import SaveWorkflow

FOUND_IT = RecordRootCause(
    whys=["Why cancel?", "Why that?", "Why really?"], category=RootCauseCategory.OTHER, summary="found it", by="test"
)


async def work_every_step(
    h: Harness, account: str, poll: timedelta = timedelta(hours=6), limit: timedelta = timedelta(days=40)
) -> SaveState:
    """Complete each playbook task within ``poll`` of it opening, until every step is done."""
    state = await h.state(account)
    deadline = state.opened_at + limit
    while True:
        await work_open_steps(h.saves, state, by="test", root_cause=FOUND_IT)
        state = await h.state(account)
        pending = steps_left(state)
        if not pending:
            return state
        assert await h.now() < deadline, f"steps still open: {[t.id for t in pending]}"
        await h.sleep(seconds=poll.total_seconds())


async def record_saved(h: Harness, account: str, health: int = 80) -> SaveState:
    """The customer renews; the save lifted the account's health to ``health``."""
    await h.services.crm.set_health(account, health, await h.now())
    state = await h.state(account)
    await h.act(
        account,
        SaveWorkflow.record_outcome,
        RecordOutcome(
            kind=OutcomeKind.SAVED,
            reason="renewal signed",
            criteria_met=[c.id for c in state.playbook.outcome.success_criteria],
            by="test",
        ),
    )
    return await h.wait_in_stage(account, "recovery")


async def complete_recovery_checks(h: Harness, account: str) -> None:
    """Sleep to each recovery check, complete it as soon as it opens."""
    state = await h.state(account)
    assert state.recovery is not None
    for check in state.playbook.recovery.checks:
        target = state.recovery.started_at + check.at + timedelta(hours=1)
        now = await h.now()
        if target > now:
            await h.sleep(seconds=(target - now).total_seconds())
        await h.act(account, SaveWorkflow.complete_task, CompleteTask(task_id=check.id, by="test"))
