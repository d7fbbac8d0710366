"""Starting saves and acting on them from outside: the command line and, later, the HTTP API."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.crm import CrmAdapter
from playbook_defs.loader import PlaybookLibrary, RouteError
from playbook_defs.vocabulary import ACCOUNT_ID_PATTERN
from workflows.details import static_summary
from workflows.ids import save_workflow_id
from workflows.models import SaveInput, SaveState, Trigger
from workflows.save import SaveWorkflow

T = TypeVar("T")
_ACCOUNT_ID = re.compile(ACCOUNT_ID_PATTERN)


class SaveError(Exception):
    """Something a person asked for that cannot be done; the message says why."""


class UnknownAccount(SaveError):
    """The CRM does not know the account."""


class NoRoute(SaveError):
    """No playbook for this trigger; ``field`` names the request field to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NoSave(SaveError):
    """The account has no save (never had one, or the id is wrong)."""


class Refused(SaveError):
    """The save refused the action (its validator said why), or the save is closed."""


class NotAnswering(SaveError):
    """The save did not answer in time: no worker, or Temporal unreachable."""


def workflow_id(account_id: str) -> str:
    """One running save per account: its workflow id is derived from the account id."""
    if not _ACCOUNT_ID.match(account_id):
        raise SaveError(f"invalid account id {account_id!r}: use letters, digits, '.', '_' or '-'")
    return save_workflow_id(account_id)


def new_trigger_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class TriggerResult:
    workflow_id: str
    run_id: str | None
    playbook: str
    merged: bool


class SaveClient:
    def __init__(self, client: Client, task_queue: str, library: PlaybookLibrary, crm: CrmAdapter) -> None:
        self.client = client
        self.task_queue = task_queue
        self.library = library
        self.crm = crm

    async def trigger(self, trigger: Trigger) -> TriggerResult:
        """Start the account's save, or record the trigger on the save already running.

        Signal-with-start makes this atomic: concurrent triggers for one account give one save.
        """
        account = await self.crm.get_account(trigger.account_id)
        if account is None:
            raise UnknownAccount(f"unknown account {trigger.account_id!r}: import it first (saves crm import FILE)")
        try:
            playbook = (
                self.library.get(trigger.playbook)
                if trigger.playbook
                else self.library.route(trigger.kind, trigger.reason)
            )
        except RouteError as exc:
            raise NoRoute(exc.field, exc.message) from exc
        trigger = trigger.model_copy(update={"playbook": playbook.id})
        wf_id = workflow_id(trigger.account_id)
        handle = await self.client.start_workflow(
            SaveWorkflow.run,
            SaveInput(trigger=trigger),
            id=wf_id,
            task_queue=self.task_queue,
            start_signal="merge_trigger",
            start_signal_args=[trigger],
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=static_summary(playbook.name, account.name, account.arr, account.tier.value),
            static_details=(
                f"**Trigger:** {trigger.kind.value.replace('_', ' ')}"
                f"{' (' + trigger.reason.value + ')' if trigger.reason else ''}"
                f" from {trigger.source}\n\n**Playbook:** {playbook.id} v{playbook.version}"
                f"\n\n{playbook.summary}"
            ),
        )
        opener = await self._opening_trigger(wf_id, handle.result_run_id)
        running_playbook = opener.playbook if opener is not None else playbook.id
        return TriggerResult(
            wf_id,
            handle.result_run_id,
            running_playbook or playbook.id,
            merged=opener is None or opener.trigger_id != trigger.trigger_id,
        )

    async def _opening_trigger(self, wf_id: str, run_id: str | None) -> Trigger | None:
        """The trigger a run was started with, or None for a run that continued an earlier one.

        Signal-with-start does not say whether it started the run; the run's first event does.
        """
        handle = self.client.get_workflow_handle(wf_id, run_id=run_id)
        async for event in handle.fetch_history_events(page_size=1):
            attrs = event.workflow_execution_started_event_attributes
            if attrs.continued_execution_run_id:
                return None
            decoded = await self.client.data_converter.decode(attrs.input.payloads, [SaveInput])
            inp = decoded[0]
            return inp.trigger if isinstance(inp, SaveInput) and inp.state is None else None
        return None

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
