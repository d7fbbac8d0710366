"""Start an account's save, or join the one running: the scan activity and the worker's save client share this.

Signal-with-start keeps it atomic, so concurrent triggers for one account give one save.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError

from activities.crm import CrmAdapter
from playbook_defs.loader import PlaybookLibrary, RouteError
from playbook_defs.schema import PlaybookDef
from playbook_defs.vocabulary import ACCOUNT_ID_PATTERN
from workflows.contracts import AccountSnapshot
from workflows.details import static_summary
from workflows.ids import save_workflow_id
from workflows.models import SaveInput, Trigger
from workflows.save import SaveWorkflow

ACCOUNT_TTL = 10.0
"""Seconds an account read for a trigger is reused."""
ACCOUNTS_KEPT = 10_000

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


class SaveStarter:
    """Starts saves on ``task_queue``; routes triggers with ``library``; checks accounts in ``crm``."""

    def __init__(self, client: Client, task_queue: str, library: PlaybookLibrary, crm: CrmAdapter) -> None:
        self.client = client
        self.task_queue = task_queue
        self.library = library
        self.crm = crm
        self._accounts: dict[str, tuple[float, AccountSnapshot]] = {}

    async def trigger(self, trigger: Trigger) -> TriggerResult:
        """Start the account's save, or record the trigger on the save already running.

        Signal-with-start makes this atomic: concurrent triggers for one account give one save. It
        is one call to Temporal that does not wait for a worker, so a burst of triggers is taken in
        at Temporal's pace even while the workers are busy (an update-with-start answers only once
        a worker has run the save's first task: under a backlog that was seconds per trigger).
        """
        account = await self._account(trigger.account_id)
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
        try:
            return await self._signal_with_start(trigger, playbook, account, wf_id)
        except (RPCError, RuntimeError) as exc:
            # Temporal is down or restarting (an RPCError; a RuntimeError from a client that has
            # not connected yet). The trigger may or may not have reached it: the sender sends it
            # again, and a save records one trigger id once.
            raise NotAnswering(
                f"Temporal is not answering ({exc}); the trigger may not be recorded: send it again"
            ) from exc

    async def _signal_with_start(
        self, trigger: Trigger, playbook: PlaybookDef, account: AccountSnapshot, wf_id: str
    ) -> TriggerResult:
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
        if _started(handle):  # the server says this call started the run: the answer needs nothing more
            return TriggerResult(wf_id, handle.result_run_id, playbook.id, merged=False)
        opener = await self._opening_trigger(wf_id, handle.result_run_id)
        running_playbook = opener.playbook if opener is not None else playbook.id
        return TriggerResult(
            wf_id,
            handle.result_run_id,
            running_playbook or playbook.id,
            merged=opener is None or opener.trigger_id != trigger.trigger_id,
        )

    async def _account(self, account_id: str) -> AccountSnapshot | None:
        """The account, remembered for a few seconds: it only labels the save in the UI and checks
        the account exists, and a burst of signals for one account (a CRM replaying its webhooks, a
        scan) then reads it once."""
        now = time.monotonic()
        cached = self._accounts.get(account_id)
        if cached is not None and now - cached[0] < ACCOUNT_TTL:
            return cached[1]
        account = await self.crm.get_account(account_id)
        if account is not None:
            if len(self._accounts) >= ACCOUNTS_KEPT:
                self._accounts.clear()
            self._accounts[account_id] = (now, account)
        return account

    async def _opening_trigger(self, wf_id: str, run_id: str | None) -> Trigger | None:
        """The trigger a run was started with, or None for a run that continued an earlier one.

        Used when the server did not say whether signal-with-start started the run (the
        time-skipping test server does not) or when it joined one: the run's first event says.
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


def _started(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether signal-with-start started a new run. The server answers it in the start response,
    which the SDK keeps on the handle; without it (older servers) the caller reads the history."""
    response = getattr(handle, "_start_workflow_response", None)
    return bool(getattr(response, "started", False))
