"""Acting on saves from outside (the command line and the HTTP API): start or join, read, update."""

from __future__ import annotations

from typing import Any

from temporalio.client import (
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

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
from workflows.models import SaveState
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
    "new_trigger_id",
    "workflow_id",
]


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

    async def update(self, account_id: str, update: Any, request: Any) -> Any:
        """Send a human action; a rejection raises :class:`SaveError` with the workflow's reason."""
        return await self._call(account_id, self.handle(account_id).execute_update(update, request))

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
                raise NoSave(f"no save for account {account_id!r}") from exc
            if exc.status is RPCStatusCode.FAILED_PRECONDITION:
                raise Refused(f"the save for {account_id!r} is closed: {exc.message}") from exc
            raise NotAnswering(exc.message) from exc
