"""A new save opens in three activities: one read, one CRM write, one call for its first tasks.

A morning's scan can open a thousand saves at once; each activity a save runs to open costs a round
trip and a workflow task, so opening cheaply is what lets every one of them open.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.crm_activities import CrmActivities
from activities.crm_errors import CRM_REJECTED
from playbook_defs.vocabulary import OwnerRole, TriggerKind
from tests.harness import Harness, SmtpSink
from worker.runtime.runner import Services
from worker.runtime.settings import Settings
from workflows.contracts import ActivityName, CrmTaskRef, CrmTaskRequest, SaveRef
from workflows.ids import save_workflow_id
from workflows.models import TaskStatus
from workflows.save import opening


async def _activities_scheduled(h: Harness, account: str) -> Counter[str]:
    """Activities the save ran, by type; local activities (run inside a workflow task) as ``local``."""
    history = await h.client.get_workflow_handle(save_workflow_id(account)).fetch_history()
    found: Counter[str] = Counter()
    for e in history.events:
        if e.HasField("activity_task_scheduled_event_attributes"):
            found[e.activity_task_scheduled_event_attributes.activity_type.name] += 1
        elif e.marker_recorded_event_attributes.marker_name == "core_local_activity":
            data = e.marker_recorded_event_attributes.details["data"].payloads[0].data
            found[f"local {json.loads(data)['activity_type']}"] += 1
    return found


async def test_a_save_opens_with_one_read_one_crm_write_and_one_call_for_its_first_tasks(
    harness: Harness,
) -> None:
    state = await harness.start("northwind", TriggerKind.PRODUCT_GAP)
    first = opening.opens_at_start(state)
    assert len(first) >= 2, "the product playbook opens several tasks at once"
    await harness.eventually_state("northwind", lambda s: all(s.tasks[t].crm_task_id for t in first))
    scheduled = await _activities_scheduled(harness, "northwind")
    assert scheduled[f"local {ActivityName.READ_SAVE_OPENING}"] == 1, scheduled
    assert scheduled[ActivityName.OPEN_IN_CRM] == 1
    assert scheduled[ActivityName.CREATE_CRM_TASKS] == 1
    for one_at_a_time in (ActivityName.FETCH_ACCOUNT, ActivityName.LOAD_PLAYBOOK, ActivityName.LOAD_TRIAGE_RULES):
        assert scheduled[one_at_a_time] == 0
    assert scheduled[ActivityName.CREATE_CRM_TASK] == 0, "no first task was created on its own"
    # one workflow task reads (locally), then sends the CRM write and the first tasks together
    history = await harness.client.get_workflow_handle(save_workflow_id("northwind")).fetch_history()
    sent_in = {
        e.activity_task_scheduled_event_attributes.activity_type.name: (
            e.activity_task_scheduled_event_attributes.workflow_task_completed_event_id
        )
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    assert sent_in[ActivityName.OPEN_IN_CRM] == sent_in[ActivityName.CREATE_CRM_TASKS] == min(sent_in.values())
    # what the CS team sees: the account is red, each first task is in the CRM for its owner, due on time
    state = await harness.state("northwind")
    assert state.risk.value == "red"
    crm_tasks = {t.title: t for t in await harness.crm_tasks("northwind")}
    for task_id in first:
        task = state.tasks[task_id]
        assert task.status is TaskStatus.OPEN
        assert task.title in crm_tasks
        assert task.due_at is not None and task.opened_at == state.opened_at


class RefusesEngineeringTasks(CrmActivities):
    """A CRM that refuses, for good, every task meant for engineering."""

    @activity.defn(name=ActivityName.CREATE_CRM_TASK.value)
    async def create_task(self, request: CrmTaskRequest) -> CrmTaskRef:
        if request.owner is OwnerRole.ENGINEERING:
            raise ApplicationError("field owner: no such queue", type=CRM_REJECTED, non_retryable=True)
        return await super().create_task(request)


class OneTaskAtATime:
    """The CRM store without its batch write, so each task is offered (and refused) on its own."""

    def __init__(self, crm: Any) -> None:
        self._crm = crm

    def __getattr__(self, name: str) -> Any:
        if name == "create_tasks":
            raise AttributeError(name)
        return getattr(self._crm, name)


def _refusing(services: Services) -> list[Any]:
    refusing = RefusesEngineeringTasks(OneTaskAtATime(services.crm_activities.crm))
    swap = {"create_tasks": refusing.create_tasks, "create_task": refusing.create_task}
    return [swap.get(getattr(a, "__name__", ""), a) for a in services.activities()]


async def test_a_first_task_the_crm_refuses_needs_attention_and_the_others_are_created(
    time_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink
) -> None:
    async with Harness.running(time_env, settings, smtp, activities=_refusing) as h:
        state = await h.start("northwind", TriggerKind.PRODUCT_GAP)
        first = opening.opens_at_start(state)
        engineering = [t for t in first if state.tasks[t].owner is OwnerRole.ENGINEERING]
        others = [t for t in first if t not in engineering]
        assert engineering and others, "the product playbook opens tasks for engineering and for others"
        state = await h.eventually_state("northwind", lambda s: bool(s.needs_attention))
        assert [p.error for p in state.needs_attention] == [CRM_REJECTED] * len(engineering)
        assert "no such queue" in state.needs_attention[0].message
        assert all(state.tasks[t].crm_task_id for t in others)
        assert all(state.tasks[t].crm_task_id is None and state.tasks[t].status is TaskStatus.OPEN for t in engineering)
        assert "Needs attention" in await h.saves.details("northwind")


async def test_a_retried_batch_of_first_tasks_creates_nothing_twice(harness: Harness) -> None:
    state = await harness.start("northwind", TriggerKind.PRODUCT_GAP)
    first = opening.opens_at_start(state)
    await harness.eventually_state("northwind", lambda s: all(s.tasks[t].crm_task_id for t in first))
    before = await harness.crm_tasks("northwind")
    requests = [
        CrmTaskRequest(
            key=f"{state.save_id}/task/{t}",
            save=SaveRef(account_id="northwind", save_id=state.save_id, playbook_id=state.playbook.id),
            owner=state.tasks[t].owner,
            title=state.tasks[t].title,
            due_at=state.opened_at,
            at=state.opened_at,
        )
        for t in first
    ]
    again = await harness.services.crm.create_tasks(requests)
    assert sorted(task_id for task_id, _ in again.values()) == sorted(str(state.tasks[t].crm_task_id) for t in first)
    assert len(await harness.crm_tasks("northwind")) == len(before)
