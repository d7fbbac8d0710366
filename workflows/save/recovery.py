"""After a saved outcome: 90 days of recovery with a 30-day check-in, a 60-day value review and a
90-day QBR, weekly touchpoints and a monthly value report. Health is read at every check and
touchpoint; below the playbook's threshold (or on a new risk signal) the save relapses and reopens."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from temporalio import workflow

from playbook_defs.schema import CUSTOMER, RecoveryCheck
from workflows.contracts import ActivityName, HealthReading
from workflows.models import Relapse, SaveState, Task, TaskSource
from workflows.save import cadence, steps
from workflows.save.timers import sleep_until

if TYPE_CHECKING:
    from workflows.save.context import SaveRun


def health_relapse(s: SaveState, health: int | None, occasion: str, now: datetime) -> Relapse | None:
    """A reading below the playbook's threshold is a relapse (the first one counts); None otherwise."""
    r = s.recovery
    assert r is not None
    threshold = s.playbook.recovery.relapse_health_below
    if health is not None and health < threshold and r.relapse is None:
        r.relapse = Relapse(at=now, health=health, reason=f"health {health} below {threshold} at {occasion}")
        return r.relapse
    return None


def check_task(s: SaveState, check: RecoveryCheck) -> Task:
    task = Task(
        id=check.id,
        title=check.title,
        source=TaskSource.RECOVERY_CHECK,
        owner=check.owner,
        due_within=check.due_within,
        ladder=check.escalation if check.escalation is not None else s.playbook.default_escalation,
    )
    s.tasks[task.id] = task
    return task


def touchpoint_task(s: SaveState, number: int) -> Task:
    plan = s.playbook.recovery
    task = Task(
        id=f"touchpoint_{number}",
        title=f"Weekly touchpoint #{number} with {s.account.name}",
        source=TaskSource.TOUCHPOINT,
        owner=plan.touchpoint_owner,
        due_within=plan.touchpoint_due_within,
    )
    s.tasks[task.id] = task
    return task


async def health_relapsed(run: SaveRun, occasion: str) -> bool:
    """Read account health; below the playbook's threshold the save relapses."""
    s = run.s
    r = s.recovery
    assert r is not None
    reading = await run.effects.call(
        ActivityName.READ_ACCOUNT_HEALTH, s.account.account_id, f"Read account health ({occasion})", HealthReading
    )
    r.readings.append(reading.model_copy(update={"read_at": workflow.now()}))
    health_relapse(s, reading.health, occasion, workflow.now())
    run.publish()
    return r.relapse is not None


async def run_check(run: SaveRun, check: RecoveryCheck) -> None:
    """At its day: read health, open the check's task (and invite the customer), chase it."""
    s = run.s
    r = s.recovery
    assert r is not None
    existing = s.tasks.get(check.id)
    if existing is not None and not existing.is_active:
        return
    if existing is None:
        await sleep_until(r.started_at + check.at, check.title)
        if await health_relapsed(run, check.title):
            return
        check_task(s, check)
        if check.template is not None:
            await run.effects.email(
                check.template, CUSTOMER, f"recovery/{check.id}", {}, f"{check.title}: invitation to customer"
            )
    await steps.run_task(run, s.tasks[check.id], opens_at=r.started_at + check.at)


async def touchpoint(run: SaveRun, number: int) -> None:
    s = run.s
    if await health_relapsed(run, f"weekly touchpoint #{number}"):
        return
    task = touchpoint_task(s, number)
    assert s.recovery is not None
    run.supervisor.spawn(steps.run_task(run, task, opens_at=s.recovery.touchpoints.next_at))


async def value_report(run: SaveRun, number: int) -> None:
    s = run.s
    assert s.recovery is not None
    readings = s.recovery.readings
    await run.effects.email(
        s.playbook.recovery.value_report_template,
        CUSTOMER,
        f"value_report/{number}",
        {"number": number, "health": readings[-1].health if readings else None},
        f"Monthly value report #{number} to customer",
    )


async def end_of_period(run: SaveRun, ends_at: datetime) -> None:
    await sleep_until(ends_at, "End of the recovery period")
    run.recovery_period_over = True


def start(run: SaveRun) -> None:
    """Spawn every recovery check, the weekly touchpoints, the monthly value reports and the period's end."""
    s = run.s
    r = s.recovery
    assert r is not None
    plan = s.playbook.recovery
    spawn = run.supervisor.spawn
    for check in plan.checks:
        spawn(run_check(run, check))
    spawn(
        cadence.repeat(
            run,
            r.touchpoints,
            plan.touchpoint_every,
            "Weekly touchpoint",
            lambda n: touchpoint(run, n),
            until=r.ends_at,
        )
    )
    spawn(
        cadence.repeat(
            run,
            r.value_reports,
            plan.value_report_every,
            "Monthly value report",
            lambda n: value_report(run, n),
            until=r.ends_at,
        )
    )
    spawn(end_of_period(run, r.ends_at))
