"""Opening a save in few steps: one read, one CRM write, and one call for the tasks that open at once.

A daily scan can flag a thousand accounts in one morning. Each activity a new save runs costs a
round trip and a workflow task, so a save opens with one activity that reads its account, playbook
and triage rules, one that marks the account at risk with the opening notes, and one that creates
every CRM task due to open at the start. Saves started before this release open the old way
(three reads, three CRM writes, one task at a time): :data:`PATCH` tells them apart in history.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio import workflow

from playbook_defs.schema import StepKind
from playbook_defs.vocabulary import RiskColour
from workflows import wording
from workflows.contracts import (
    ActivityName,
    CrmTaskBatch,
    CrmTaskBatchResult,
    NoteRequest,
    OpenInCrmRequest,
    OpeningRequest,
    PlaybookRequest,
    RiskStatusRequest,
    SaveOpening,
)
from workflows.models import SaveState, Task, TaskStatus, Trigger
from workflows.save import steps
from workflows.save.effects import ACTIVITY_TIMEOUT, RETRY, StepNeedsAttention

if TYPE_CHECKING:
    from workflows.save.context import SaveRun

PATCH = "open-in-one-read"


READ_TIMEOUT = timedelta(seconds=30)


async def read(trigger: Trigger) -> SaveOpening:
    """The account, the playbook and the triage rules; without them there is no save, so their
    errors end the run (an unknown account or playbook) or are retried (a CRM that is down).

    A local activity: a short read run by the worker inside the save's first workflow task, so the
    save decides its path and sends its first CRM writes in that same task instead of waiting for
    another round trip through the server (which, in a burst, is a wait behind every other save)."""
    request = OpeningRequest(
        account_id=trigger.account_id,
        playbook=PlaybookRequest(playbook_id=trigger.playbook, kind=trigger.kind, reason=trigger.reason),
    )
    opened: SaveOpening = await workflow.execute_local_activity(
        ActivityName.READ_SAVE_OPENING.value,
        request,
        result_type=SaveOpening,
        start_to_close_timeout=READ_TIMEOUT,
        retry_policy=RETRY,
        summary="Read the account, the playbook and the triage rules",
    )
    return opened


async def tell_crm(run: SaveRun, why: str, triage_summary: str) -> None:
    """Mark the account red and write the opening and triage notes, in one CRM call."""
    effects, now = run.effects, workflow.now()
    request = OpenInCrmRequest(
        risk=RiskStatusRequest(save=effects.ref, risk=RiskColour.RED, reason=why, at=now),
        notes=[
            NoteRequest(key=effects.key("note/opened"), save=effects.ref, text=why, at=now),
            NoteRequest(key=effects.key("note/triage"), save=effects.ref, text=triage_summary, at=now),
        ],
    )
    await effects.call(ActivityName.OPEN_IN_CRM, request, "CRM: risk status red, opening notes", type(None))
    run.s.risk = RiskColour.RED
    run.publish()


def opens_at_start(s: SaveState) -> list[str]:
    """Ids of the save's tasks whose steps open as the save opens: no start offset, nothing to wait for."""
    return [
        step.id
        for step in s.playbook.steps
        if step.kind is StepKind.TASK and not step.depends_on and not step.start_after and step.id in s.tasks
    ]


def first_tasks(s: SaveState) -> list[Task]:
    """The tasks of :func:`opens_at_start` not opened yet."""
    return [s.tasks[i] for i in opens_at_start(s) if s.tasks[i].status is TaskStatus.PENDING]


async def open_first_tasks(run: SaveRun) -> None:
    """Create the CRM tasks that open with the save in one call; each step then chases its own.

    A task the CRM refuses is recorded as needing attention and still chased by email, as when
    tasks are created one at a time."""
    s, effects = run.s, run.effects
    tasks = first_tasks(s)
    if not tasks:
        return
    now = workflow.now()
    for task in tasks:
        steps.open_task(s, task, s.opened_at)
    requests = [steps.task_request(run, task, now) for task in tasks]
    run.publish()
    owners = ", ".join(sorted({wording.role(t.owner) for t in tasks}))
    try:
        result = await effects.call(
            ActivityName.CREATE_CRM_TASKS,
            CrmTaskBatch(tasks=requests),
            f"CRM tasks for the first {len(tasks)} steps ({owners})",
            CrmTaskBatchResult,
        )
    except StepNeedsAttention:
        return  # recorded on the save; the steps are chased by email without CRM tasks
    by_key = {created.key: created for created in result.tasks}
    for task, request in zip(tasks, requests, strict=True):
        created = by_key.get(request.key)
        if created is None or created.task_id is None:
            message = created.refused if created and created.refused else "the CRM did not create it"
            error = created.error_type if created and created.error_type else "CrmRejected"
            # an operator's retry creates this one task on its own, as tasks opened later are
            effects.needs_attention(
                f"CRM task for {wording.role(task.owner)}: {task.title}",
                error,
                message,
                ActivityName.CREATE_CRM_TASK,
                request,
                ACTIVITY_TIMEOUT,
            )
            continue
        task.crm_task_id = created.task_id
