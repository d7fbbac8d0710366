"""Acting on saves from outside (the command line and the HTTP API): start or join, read, update."""

from __future__ import annotations

import asyncio
from difflib import get_close_matches
from typing import Any

from temporalio.client import (
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.crm import ListsAccounts
from activities.save_starter import (
    NoRoute,
    NoSave,
    NotAnswering,
    Refused,
    SaveError,
    SaveStarter,
    TriggerResult,
    UnknownAccount,
    new_trigger_id,
    workflow_id,
)
from workflows.models import (
    Commitment,
    CompleteTask,
    FulfilCommitment,
    NeedsAttention,
    ResolveAttention,
    SaveState,
    Task,
)
from workflows.save import SaveWorkflow

__all__ = [
    "NoRoute",
    "NoSave",
    "NotAnswering",
    "Refused",
    "SaveClient",
    "SaveError",
    "TriggerResult",
    "UnknownAccount",
    "UnknownAttention",
    "UnknownCommitment",
    "UnknownItem",
    "UnknownTask",
    "new_trigger_id",
    "workflow_id",
]


class UnknownItem(SaveError):
    """The save has no task or commitment by that id; ``field`` names the id that is wrong, and the
    message suggests close matches."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownTask(UnknownItem):
    """The save has no task by that id."""


class UnknownCommitment(UnknownItem):
    """The save has no commitment by that id."""


def _hint(wrong: str, ids: list[str], what: str) -> str:
    close = get_close_matches(wrong, ids, n=3)
    return f"did you mean {' or '.join(close)}?" if close else f"its {what}: {', '.join(ids) or 'none'}"


class UnknownAttention(UnknownItem):
    """The save has no item needing attention (a step that failed for good) by that id."""


class SaveClient(SaveStarter):
    """A :class:`SaveStarter` that also reads a save and sends it human actions."""

    def handle(self, account_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(workflow_id(account_id))

    async def state(self, account_id: str) -> SaveState:
        state: SaveState = await self._call(account_id, self.handle(account_id).query(SaveWorkflow.state))
        return state

    async def details(self, account_id: str) -> str:
        details: str = await self._call(account_id, self.handle(account_id).query(SaveWorkflow.details))
        return details

    async def state_and_details(self, account_id: str) -> tuple[SaveState, str]:
        """The state and the plain-words details, asked at once: one query's wait instead of two in a row."""
        handle = self.handle(account_id)
        both = asyncio.gather(handle.query(SaveWorkflow.state), handle.query(SaveWorkflow.details))
        state, details = await self._call(account_id, both)
        return state, details

    async def complete_task(self, account_id: str, request: CompleteTask) -> Task:
        """Mark a task done; an id the save does not know is :class:`UnknownTask`, with close matches."""
        state = await self.state(account_id)
        if request.task_id not in state.tasks:
            hint = _hint(request.task_id, sorted(state.tasks), "tasks")
            raise UnknownTask("task_id", f"{account_id}'s save has no task {request.task_id!r}; {hint}")
        task: Task = await self.update(account_id, SaveWorkflow.complete_task, request)
        return task

    async def fulfil_commitment(self, account_id: str, request: FulfilCommitment) -> Commitment:
        """Mark a commitment delivered; an id the save does not know is :class:`UnknownCommitment`."""
        state = await self.state(account_id)
        ids = [c.id for c in state.commitments]
        if request.commitment_id not in ids:
            hint = _hint(request.commitment_id, ids, "commitments")
            message = f"{account_id}'s save has no commitment {request.commitment_id!r}; {hint}"
            raise UnknownCommitment("commitment_id", message)
        commitment: Commitment = await self.update(account_id, SaveWorkflow.fulfil_commitment, request)
        return commitment

    async def resolve_attention(self, account_id: str, request: ResolveAttention) -> NeedsAttention:
        """An operator's retry or skip of a step that needs attention; an item the save does not
        have is :class:`UnknownAttention`, with close matches."""
        state = await self.state(account_id)
        if state.attention(request.item) is None:
            ids = [i.id for i in state.needs_attention]
            close = get_close_matches(request.item, ids, n=3)
            if close:
                hint = f"did you mean {' or '.join(close)}?"
            else:
                hint = f"its items: {', '.join(ids)}" if ids else "no step of it needs attention"
            message = f"{account_id}'s save has no item {request.item!r} needing attention; {hint}"
            raise UnknownAttention("item", message)
        item: NeedsAttention = await self.update(account_id, SaveWorkflow.resolve_attention, request)
        return item

    async def update(self, account_id: str, update: Any, request: Any) -> Any:
        """Send a human action; a rejection raises :class:`SaveError` with the workflow's reason."""
        return await self._call(account_id, self.handle(account_id).execute_update(update, request))

    async def _no_save(self, account_id: str) -> SaveError:
        """Say whether the account exists at all, and suggest close matches when it does not."""
        if await self.crm.get_account(account_id) is not None:
            return NoSave(
                f"{account_id} has no save; one starts on a risk signal"
                f" (saves trigger {account_id} --kind ...) or from the daily scan"
            )
        known = await self.crm.account_ids() if isinstance(self.crm, ListsAccounts) else []
        close = get_close_matches(account_id, known, n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else "; `saves accounts` lists them"
        return UnknownAccount(f"there is no account {account_id!r} in the CRM{hint}")

    async def _call(self, account_id: str, call: Any) -> Any:
        try:
            return await call
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            raise Refused(cause.message if isinstance(cause, ApplicationError) else str(cause)) from exc
        except WorkflowQueryFailedError as exc:
            raise Refused(str(exc)) from exc
        except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
            raise NotAnswering("the save did not answer in time; is a worker running?") from exc
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise await self._no_save(account_id) from exc
            if exc.status is RPCStatusCode.FAILED_PRECONDITION:
                raise Refused(f"the save for {account_id!r} is closed: {exc.message}") from exc
            raise NotAnswering(exc.message) from exc
