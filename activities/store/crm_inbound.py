"""The SQL CRM's inbound side: what a person does in the CRM, and reading it back for the saves.

The other CRMs have a UI where a CSM marks a task done, logs a call or reassigns an account; the
SQL store's UI is the ``saves crm`` commands, which call these functions. Each change writes the
CRM's own record (the task, the owner) and a row in ``crm_changes``; the saves hear of it by
reading the rows after a cursor (their ``id``), as they read HubSpot or Salesforce.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.crm_errors import RejectedByCrm
from activities.store.db import sessions
from activities.store.tables import Account, Contact, CrmChange, CrmTask, Owner
from playbook_defs.vocabulary import OwnerRole
from workflows.contracts import ChangesPage, InboundEvent, InboundKind, TouchChannel

PAGE = 500


def _now() -> datetime:
    return datetime.now(UTC)


async def _task(session: Any, key: str) -> CrmTask:
    """The task with this key, or with this id as ``saves crm tasks`` shows it (``T-12``)."""
    by_id = key[2:].isdigit() and key.startswith("T-")
    task: CrmTask | None = (
        await session.execute(select(CrmTask).where(CrmTask.id == int(key[2:]) if by_id else CrmTask.key == key))
    ).scalar_one_or_none()
    if task is None:
        raise RejectedByCrm(f"no CRM task has the key {key!r} (saves crm tasks lists them)")
    return task


async def complete_task(engine: AsyncEngine, key: str, by: str, at: datetime | None = None) -> CrmChange:
    """Mark a task done in the CRM, as a CSM would; done again, it is left as it is."""
    return await _task_change(engine, key, by, at, InboundKind.TASK_COMPLETED)


async def reopen_task(engine: AsyncEngine, key: str, by: str, at: datetime | None = None) -> CrmChange:
    return await _task_change(engine, key, by, at, InboundKind.TASK_REOPENED)


async def delete_task(engine: AsyncEngine, key: str, by: str, at: datetime | None = None) -> CrmChange:
    return await _task_change(engine, key, by, at, InboundKind.TASK_DELETED)


async def _task_change(engine: AsyncEngine, key: str, by: str, at: datetime | None, kind: InboundKind) -> CrmChange:
    moment = at or _now()
    async with sessions(engine)() as session, session.begin():
        task = await _task(session, key)
        if task.status == "deleted":
            raise RejectedByCrm(f"the CRM task {key!r} was deleted")
        if kind is InboundKind.TASK_COMPLETED:
            task.status, task.closed_at = "done", moment
        elif kind is InboundKind.TASK_REOPENED:
            task.status, task.closed_at = "open", None
        else:
            task.status, task.closed_at = "deleted", moment
        change = CrmChange(
            kind=kind.value,
            source_id=f"T-{task.id}",
            account_id=task.account_id,
            task_key=task.key,
            by_name=by,
            at=moment,
            recorded_at=_now(),
        )
        session.add(change)
    return change


async def log_touch(
    engine: AsyncEngine,
    account_id: str,
    contact: str,
    at: datetime,
    channel: TouchChannel = TouchChannel.CALL,
    by: str | None = None,
) -> CrmChange:
    """Log a call, meeting or email with one of the account's contacts (named or by email), at
    the time it happened."""
    async with sessions(engine)() as session, session.begin():
        if await session.get(Account, account_id) is None:
            raise RejectedByCrm(f"the CRM has no account {account_id!r}")
        wanted = contact.strip().lower()
        found = (
            await session.execute(
                select(Contact).where(
                    Contact.account_id == account_id,
                    or_(func.lower(Contact.name) == wanted, func.lower(Contact.email) == wanted),
                )
            )
        ).scalar_one_or_none()
        if found is None:
            raise RejectedByCrm(f"{contact!r} is not a contact of {account_id!r} (saves crm import adds contacts)")
        change = CrmChange(
            kind=InboundKind.CUSTOMER_TOUCH.value,
            source_id=f"C-{found.id}-{at.astimezone(UTC).isoformat()}",
            account_id=account_id,
            by_name=by,
            channel=channel.value,
            contact=found.name,
            at=at,
            recorded_at=_now(),
        )
        session.add(change)
    return change


async def change_owner(
    engine: AsyncEngine,
    account_id: str,
    role: OwnerRole,
    owner_id: str,
    name: str,
    email: str | None = None,
    by: str | None = None,
    at: datetime | None = None,
) -> CrmChange:
    """Make someone the account's owner for a role, as a manager would in the CRM."""
    moment = at or _now()
    async with sessions(engine)() as session, session.begin():
        if await session.get(Account, account_id) is None:
            raise RejectedByCrm(f"the CRM has no account {account_id!r}")
        owner = await session.get(Owner, (account_id, role.value))
        if owner is None:
            session.add(Owner(account_id=account_id, role=role.value, owner_id=owner_id, name=name, email=email))
        else:
            owner.owner_id, owner.name, owner.email = owner_id, name, email
        change = CrmChange(
            kind=InboundKind.OWNER_CHANGED.value,
            source_id=f"O-{account_id}-{role.value}",
            account_id=account_id,
            by_name=by,
            role=role.value,
            owner_id=owner_id,
            owner_name=name,
            owner_email=email,
            at=moment,
            recorded_at=_now(),
        )
        session.add(change)
    return change


def as_event(change: CrmChange) -> InboundEvent:
    return InboundEvent(
        crm="sql",
        kind=InboundKind(change.kind),
        source_id=change.source_id,
        at=change.at,
        account_id=change.account_id,
        task_key=change.task_key,
        by=change.by_name,
        by_id=change.by_id,
        channel=TouchChannel(change.channel) if change.channel else None,
        contact=change.contact,
        role=OwnerRole(change.role) if change.role else None,
        owner_id=change.owner_id,
        owner_name=change.owner_name,
        owner_email=change.owner_email,
    )


async def changes_since(engine: AsyncEngine, cursor: str | None, limit: int = PAGE) -> ChangesPage:
    """The changes after row ``cursor`` (a row id), oldest first, ``limit`` at a time."""
    try:
        after = int(cursor) if cursor else 0
    except ValueError:
        raise RejectedByCrm(f"cursor {cursor!r} is not a crm_changes row id") from None
    async with sessions(engine)() as session:
        rows = list(
            (
                await session.execute(
                    select(CrmChange).where(CrmChange.id > after).order_by(CrmChange.id).limit(limit + 1)
                )
            ).scalars()
        )
    page = rows[:limit]
    return ChangesPage(
        events=[as_event(r) for r in page], cursor=str(page[-1].id) if page else cursor, more=len(rows) > limit
    )
