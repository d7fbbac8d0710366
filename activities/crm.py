"""The CRM as the save engine needs it. Adapters (the SQL store, later others) implement this."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from playbook_defs.vocabulary import OwnerRole
from workflows.contracts import (
    AccountSnapshot,
    AssignOwnerRequest,
    ChangesPage,
    CrmTaskRequest,
    HealthReading,
    NoteRequest,
    RiskStatusRequest,
)


@dataclass(frozen=True)
class Person:
    """Someone a task or an email goes to: an owner in our company or a customer contact."""

    name: str
    email: str | None = None
    person_id: str | None = None


@runtime_checkable
class ListsAccounts(Protocol):
    """A CRM that can list every account id cheaply (the SQL store), to suggest one for a typo."""

    async def account_ids(self) -> list[str]: ...


class CrmAdapter(Protocol):
    """Reads and writes the engine needs. Writes are idempotent on the request's key."""

    async def get_account(self, account_id: str) -> AccountSnapshot | None: ...

    async def get_owner(self, account_id: str, role: OwnerRole) -> Person | None:
        """The account's owner for ``role``, falling back to the team-wide owner of that role."""

    async def get_primary_contact(self, account_id: str) -> Person | None: ...

    async def create_task(self, request: CrmTaskRequest, owner: Person | None) -> str:
        """Create the task once; a repeated key returns the id of the task already created."""

    async def close_tasks(self, keys: Sequence[str], status: str, at: datetime) -> int:
        """Close open tasks at these keys and under them (``key/...``); returns how many."""

    async def add_note(self, request: NoteRequest) -> None: ...

    async def set_risk_status(self, request: RiskStatusRequest) -> None: ...

    async def read_health(self, account_id: str) -> HealthReading: ...

    async def assign_owner(self, request: AssignOwnerRequest) -> int:
        """Set the account's owner for a role; reassign that role's open tasks. Returns tasks moved."""

    async def changes_since(self, cursor: str | None) -> ChangesPage:
        """What was done in the CRM after ``cursor`` (None: from the start), as inbound events.

        Events may repeat across reads (the CRM's search index can trail its writes, so a read
        overlaps the last one a little); their ``key`` makes the repeat harmless."""
