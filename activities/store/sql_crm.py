"""The default CRM adapter: accounts, owners, contacts, tasks and notes in the SQL store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from activities.crm import Person
from activities.crm_errors import RejectedByCrm
from activities.store import crm_inbound
from activities.store.db import sessions
from activities.store.tables import (
    TEAM,
    Account,
    Contact,
    CrmTask,
    HealthSnapshot,
    Owner,
    RiskChange,
    TimelineNote,
)
from playbook_defs.vocabulary import AccountFlag, Fit, OwnerRole, SponsorStatus, Tier
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
class AccountListing:
    """One line of ``saves accounts``."""

    account_id: str
    name: str
    tier: str
    arr: float
    risk: str
    health: int | None
    csm: str | None
    csm_id: str | None


class SqlCrm:
    """:class:`activities.crm.CrmAdapter` over SQLAlchemy: SQLite by default, PostgreSQL in production."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions: async_sessionmaker[Any] = sessions(engine)

    async def get_account(self, account_id: str) -> AccountSnapshot | None:
        async with self._sessions() as session:
            account = await session.get(Account, account_id)
            if account is None:
                return None
            csm = await self._owner(session, account_id, OwnerRole.CSM)
            return AccountSnapshot(
                account_id=account.id,
                name=account.name,
                tier=Tier(account.tier),
                arr=account.arr,
                renewal_date=account.renewal_date,
                health=account.health,
                usage_pct=account.usage_pct,
                csm=csm.name if csm else None,
                csm_id=csm.owner_id if csm else None,
                flags=tuple(AccountFlag(f) for f in account.flags or ()),
                fit=Fit(account.fit) if account.fit else None,
                sponsor_status=SponsorStatus(account.sponsor_status) if account.sponsor_status else None,
            )

    @staticmethod
    async def _owner(session: Any, account_id: str, role: OwnerRole) -> Owner | None:
        rows = (
            (
                await session.execute(
                    select(Owner).where(Owner.role == role.value, Owner.account_id.in_([account_id, TEAM]))
                )
            )
            .scalars()
            .all()
        )
        own = [r for r in rows if r.account_id == account_id]
        found: Owner | None = (own or list(rows) or [None])[0]
        return found

    async def get_owner(self, account_id: str, role: OwnerRole) -> Person | None:
        async with self._sessions() as session:
            owner = await self._owner(session, account_id, role)
            return Person(owner.name, owner.email, owner.owner_id) if owner else None

    async def get_primary_contact(self, account_id: str) -> Person | None:
        async with self._sessions() as session:
            contact = (
                await session.execute(
                    select(Contact)
                    .where(Contact.account_id == account_id)
                    .order_by(Contact.primary.desc(), Contact.id)
                    .limit(1)
                )
            ).scalar_one_or_none()
            return Person(contact.name, contact.email) if contact else None

    @staticmethod
    async def _known(session: Any, account_id: str) -> None:
        if await session.get(Account, account_id) is None:
            raise RejectedByCrm(f"the CRM has no account {account_id!r}")

    async def create_task(self, request: CrmTaskRequest, owner: Person | None) -> str:
        async with self._sessions() as session:
            existing = await self._task_id(session, request.key)
            if existing is not None:
                return existing
            await self._known(session, request.save.account_id)
            row = _new_task(request, owner.person_id if owner else None, owner.name if owner else None)
            session.add(row)
            try:
                await session.commit()
                return f"T-{row.id}"
            except IntegrityError:  # a concurrent attempt created it first
                await session.rollback()
            task_id = await self._task_id(session, request.key)
            assert task_id is not None
            return task_id

    async def create_tasks(self, requests: Sequence[CrmTaskRequest]) -> dict[str, tuple[str, str | None]]:
        """Tasks of one account that open together, in one transaction: key -> (task id, owner's name).

        Keys already used return the tasks they made (a retried batch creates nothing twice)."""
        if not requests:
            return {}
        account_id = requests[0].save.account_id
        if any(r.save.account_id != account_id for r in requests):
            raise ValueError("a batch of CRM tasks belongs to one account")
        keys = [r.key for r in requests]
        async with self._sessions() as session:
            existing = await self._made(session, keys)
            missing = [r for r in requests if r.key not in existing]
            owners: dict[str, Owner] = {}
            if missing:
                await self._known(session, account_id)
                rows = (
                    (await session.execute(select(Owner).where(Owner.account_id.in_([account_id, TEAM]))))
                    .scalars()
                    .all()
                )
                for row in sorted(rows, key=lambda r: r.account_id != account_id):  # the account's own first
                    owners.setdefault(row.role, row)
                for request in missing:
                    owner = owners.get(request.owner.value)
                    session.add(_new_task(request, owner.owner_id if owner else None, owner.name if owner else None))
                try:
                    await session.commit()
                except IntegrityError:  # a concurrent attempt created some first: make the rest one by one
                    await session.rollback()
                    for request in missing:
                        owner = owners.get(request.owner.value)
                        person = Person(owner.name, owner.email, owner.owner_id) if owner else None
                        await self.create_task(request, person)
            return await self._made(session, keys)

    @staticmethod
    async def _made(session: Any, keys: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """Tasks already made under these keys: key -> (task id, owner's name)."""
        query = select(CrmTask.key, CrmTask.id, CrmTask.owner_name).where(CrmTask.key.in_(keys))
        return {key: (f"T-{task_id}", name) for key, task_id, name in (await session.execute(query)).all()}

    @staticmethod
    async def _task_id(session: Any, key: str) -> str | None:
        found = (await session.execute(select(CrmTask.id).where(CrmTask.key == key))).scalar()
        return None if found is None else f"T-{found}"

    async def close_tasks(self, keys: Sequence[str], status: str, at: datetime) -> int:
        if not keys:
            return 0
        match = or_(*[or_(CrmTask.key == k, CrmTask.key.startswith(f"{k}/", autoescape=True)) for k in keys])
        async with self._sessions() as session:
            result = await session.execute(
                update(CrmTask).where(match, CrmTask.status == "open").values(status=status, closed_at=at)
            )
            await session.commit()
            return int(result.rowcount or 0)

    async def add_note(self, request: NoteRequest) -> None:
        async with self._sessions() as session:
            exists = (await session.execute(select(TimelineNote.id).where(TimelineNote.key == request.key))).scalar()
            if exists is not None:
                return
            await self._known(session, request.save.account_id)
            session.add(
                TimelineNote(
                    key=request.key,
                    account_id=request.save.account_id,
                    save_id=request.save.save_id,
                    text=request.text,
                    at=request.at,
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()

    async def set_risk_status(self, request: RiskStatusRequest) -> None:
        async with self._sessions() as session:
            account = await session.get(Account, request.save.account_id)
            if account is None:
                return
            if account.risk_status == request.risk.value:
                if account.risk_set_by != "save":
                    account.risk_set_by = "save"  # the save owns it now; the scan will not lower it
                    await session.commit()
                return
            account.risk_status = request.risk.value
            account.risk_set_by = "save"
            session.add(
                RiskChange(
                    account_id=request.save.account_id,
                    save_id=request.save.save_id,
                    status=request.risk.value,
                    reason=request.reason,
                    at=request.at,
                )
            )
            await session.commit()

    async def read_health(self, account_id: str) -> HealthReading:
        async with self._sessions() as session:
            account = await session.get(Account, account_id)
            if account is None:
                return HealthReading(account_id=account_id, health=None)
            return HealthReading(account_id=account_id, health=account.health, usage_pct=account.usage_pct)

    async def assign_owner(self, request: AssignOwnerRequest) -> int:
        account_id, role = request.save.account_id, request.role.value
        async with self._sessions() as session:
            owner = await session.get(Owner, (account_id, role))
            if owner is None:
                session.add(
                    Owner(
                        account_id=account_id,
                        role=role,
                        owner_id=request.owner_id,
                        name=request.name,
                        email=request.email,
                    )
                )
            else:
                owner.owner_id, owner.name, owner.email = request.owner_id, request.name, request.email
            moved = await session.execute(
                update(CrmTask)
                .where(
                    CrmTask.account_id == account_id,
                    CrmTask.owner_role == role,
                    CrmTask.status == "open",
                    CrmTask.owner_id.is_distinct_from(request.owner_id),
                )
                .values(owner_id=request.owner_id, owner_name=request.name)
            )
            await session.commit()
            return int(moved.rowcount or 0)

    async def changes_since(self, cursor: str | None) -> ChangesPage:
        """What people did in this CRM after ``cursor`` (see :mod:`activities.store.crm_inbound`)."""
        return await crm_inbound.changes_since(self.engine, cursor)

    # --- used by the command line and tests, not by activities ----------------------------

    async def set_health(self, account_id: str, health: int, at: datetime, usage_pct: float | None = None) -> None:
        """Record a new health score for an account (what a CRM sync or a CSM would do)."""
        async with self._sessions() as session:
            account = await session.get(Account, account_id)
            if account is None:
                raise KeyError(f"unknown account {account_id!r}")
            account.health = health
            if usage_pct is not None:
                account.usage_pct = usage_pct
            session.add(HealthSnapshot(account_id=account_id, health=health, usage_pct=account.usage_pct, at=at))
            await session.commit()

    async def tasks(self, account_id: str | None = None) -> list[CrmTask]:
        async with self._sessions() as session:
            query = select(CrmTask).order_by(CrmTask.id)
            if account_id is not None:
                query = query.where(CrmTask.account_id == account_id)
            return list((await session.execute(query)).scalars())

    async def risk_changes(self, account_id: str) -> list[RiskChange]:
        async with self._sessions() as session:
            return list(
                (
                    await session.execute(
                        select(RiskChange).where(RiskChange.account_id == account_id).order_by(RiskChange.id)
                    )
                ).scalars()
            )

    async def notes(self, account_id: str) -> list[TimelineNote]:
        async with self._sessions() as session:
            return list(
                (
                    await session.execute(
                        select(TimelineNote).where(TimelineNote.account_id == account_id).order_by(TimelineNote.id)
                    )
                ).scalars()
            )

    async def accounts(self, search: str | None = None, limit: int = 200) -> list[AccountListing]:
        """Accounts with their ARR, tier, risk and CSM, largest ARR first; ``search`` matches id or name."""
        query = (
            select(Account, Owner)
            .outerjoin(Owner, (Owner.account_id == Account.id) & (Owner.role == OwnerRole.CSM.value))
            .order_by(Account.arr.desc(), Account.id)
            .limit(limit)
        )
        if search:
            pattern = f"%{search.lower()}%"
            query = query.where(or_(Account.id.ilike(pattern), Account.name.ilike(pattern)))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [
            AccountListing(
                account_id=a.id,
                name=a.name,
                tier=a.tier,
                arr=a.arr,
                risk=a.risk_status,
                health=a.health,
                csm=o.name if o else None,
                csm_id=o.owner_id if o else None,
            )
            for a, o in rows
        ]

    async def account_ids(self) -> list[str]:
        async with self._sessions() as session:
            return list((await session.execute(select(Account.id).order_by(Account.id))).scalars())


def _new_task(request: CrmTaskRequest, owner_id: str | None, owner_name: str | None) -> CrmTask:
    """The row of an open task, made for ``request`` and given to its owner."""
    return CrmTask(
        key=request.key,
        account_id=request.save.account_id,
        save_id=request.save.save_id,
        owner_role=request.owner.value,
        owner_id=owner_id,
        owner_name=owner_name,
        title=request.title,
        body=request.body,
        due_at=request.due_at,
        status="open",
        created_at=request.at,
    )
