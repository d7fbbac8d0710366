"""Work a save's open playbook steps as a diligent team would: the one step driver shared by the
tests, the simulator and the scripts."""

from __future__ import annotations

import contextlib
from collections.abc import Collection

from worker.runtime.save_client import SaveClient, SaveError
from workflows.models import CompleteTask, RecordRootCause, SaveState, Task, TaskSource, TaskStatus
from workflows.save import SaveWorkflow


def open_steps(state: SaveState) -> list[Task]:
    """The playbook step tasks waiting for someone (escalations, help and checks excluded)."""
    return [t for t in state.tasks.values() if t.source is TaskSource.STEP and t.status is TaskStatus.OPEN]


def steps_left(state: SaveState) -> list[Task]:
    """Playbook step tasks not finished yet (open, or not started)."""
    return [t for t in state.tasks.values() if t.source is TaskSource.STEP and t.is_active]


async def work_open_steps(
    saves: SaveClient,
    state: SaveState,
    *,
    by: str,
    root_cause: RecordRootCause,
    leave: Collection[str] = (),
    tolerate_refusals: bool = False,
) -> list[str]:
    """Do every open step of the save in ``state``: a root-cause step gets ``root_cause``, any other
    step is marked done by ``by``. The steps named in ``leave`` stay open. With
    ``tolerate_refusals`` a step the save refuses (done meanwhile, or the save moved on) is passed
    over, as people slip too. Returns the ids of the steps worked."""
    account = state.account.account_id
    refusals: tuple[type[Exception], ...] = (SaveError,) if tolerate_refusals else ()
    worked = []
    for task in open_steps(state):
        if task.id in leave:
            continue
        with contextlib.suppress(*refusals):
            if state.playbook.step(task.id).completed_by == "root_cause":
                await saves.update(account, SaveWorkflow.record_root_cause, root_cause)
            else:
                await saves.update(account, SaveWorkflow.complete_task, CompleteTask(task_id=task.id, by=by))
        worked.append(task.id)
    return worked
