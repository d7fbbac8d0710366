"""CRM activities: thin adapters from the workflow to a :class:`activities.crm.CrmAdapter`."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.crm import CrmAdapter
from activities.crm_errors import rejections_fail_fast
from activities.logs import activity_log
from workflows.contracts import (
    UNKNOWN_ACCOUNT,
    AccountSnapshot,
    ActivityName,
    AssignOwnerRequest,
    CloseTasksRequest,
    CrmTaskBatch,
    CrmTaskBatchResult,
    CrmTaskCreated,
    CrmTaskRef,
    CrmTaskRequest,
    HealthReading,
    NoteRequest,
    OpenInCrmRequest,
    RiskStatusRequest,
)


class CrmActivities:
    def __init__(self, crm: CrmAdapter) -> None:
        self.crm = crm

    @activity.defn(name=ActivityName.FETCH_ACCOUNT.value)
    async def fetch_account(self, account_id: str) -> AccountSnapshot:
        """The account as the save opens; an unknown id can never succeed, so it is not retried."""
        with rejections_fail_fast():
            account = await self.crm.get_account(account_id)
        if account is None:
            raise ApplicationError(
                f"unknown account {account_id!r}: import it first (saves crm import FILE)",
                type=UNKNOWN_ACCOUNT,
                non_retryable=True,
            )
        return account

    @activity.defn(name=ActivityName.CREATE_CRM_TASK.value)
    async def create_task(self, request: CrmTaskRequest) -> CrmTaskRef:
        with rejections_fail_fast():
            owner = await self.crm.get_owner(request.save.account_id, request.owner)
            task_id = await self.crm.create_task(request, owner)
            activity_log(request.save).info(
                "crm task created", key=request.key, task_id=task_id, owner_role=request.owner.value
            )
            return CrmTaskRef(task_id=task_id, owner_name=owner.name if owner else None)

    @activity.defn(name=ActivityName.CREATE_CRM_TASKS.value)
    async def create_tasks(self, batch: CrmTaskBatch) -> CrmTaskBatchResult:
        """The tasks that open together, in one activity. A task the CRM refuses for good is
        reported as refused (the save records it as needing attention) and the others are still
        created; anything worth retrying retries the batch, and the keys keep it idempotent."""
        batched = getattr(self.crm, "create_tasks", None)
        if batched is not None and batch.tasks:
            try:
                with rejections_fail_fast():
                    made = await batched(batch.tasks)
            except ApplicationError as exc:
                if not exc.non_retryable:
                    raise
                # refused as a whole: one at a time says which task the CRM refuses
            else:
                for request in batch.tasks:
                    activity_log(request.save).info("crm task created", key=request.key, task_id=made[request.key][0])
                return CrmTaskBatchResult(
                    tasks=[
                        CrmTaskCreated(key=r.key, task_id=made[r.key][0], owner_name=made[r.key][1])
                        for r in batch.tasks
                    ]
                )
        created = []
        for request in batch.tasks:
            try:
                ref = await self.create_task(request)
            except ApplicationError as exc:
                if not exc.non_retryable:
                    raise
                created.append(CrmTaskCreated(key=request.key, refused=exc.message, error_type=exc.type))
                continue
            created.append(CrmTaskCreated(key=request.key, task_id=ref.task_id, owner_name=ref.owner_name))
        return CrmTaskBatchResult(tasks=created)

    @activity.defn(name=ActivityName.OPEN_IN_CRM.value)
    async def open_in_crm(self, request: OpenInCrmRequest) -> None:
        """Mark the account at risk and write the opening notes: one activity instead of three."""
        await self.set_risk_status(request.risk)
        for note in request.notes:
            await self.add_note(note)

    @activity.defn(name=ActivityName.CLOSE_CRM_TASKS.value)
    async def close_tasks(self, request: CloseTasksRequest) -> int:
        with rejections_fail_fast():
            closed = await self.crm.close_tasks(request.done, "done", request.at)
            return closed + await self.crm.close_tasks(request.cancelled, "cancelled", request.at)

    @activity.defn(name=ActivityName.SET_RISK_STATUS.value)
    async def set_risk_status(self, request: RiskStatusRequest) -> None:
        with rejections_fail_fast():
            await self.crm.set_risk_status(request)
            activity_log(request.save).info("risk status set", risk=request.risk.value)

    @activity.defn(name=ActivityName.ADD_TIMELINE_NOTE.value)
    async def add_note(self, request: NoteRequest) -> None:
        with rejections_fail_fast():
            await self.crm.add_note(request)

    @activity.defn(name=ActivityName.READ_ACCOUNT_HEALTH.value)
    async def read_health(self, account_id: str) -> HealthReading:
        with rejections_fail_fast():
            return await self.crm.read_health(account_id)

    @activity.defn(name=ActivityName.ASSIGN_CRM_OWNER.value)
    async def assign_owner(self, request: AssignOwnerRequest) -> int:
        with rejections_fail_fast():
            moved = await self.crm.assign_owner(request)
            activity_log(request.save).info(
                "owner reassigned", role=request.role.value, owner_id=request.owner_id, tasks_moved=moved
            )
            return moved
