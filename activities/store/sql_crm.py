"""The default CRM adapter: accounts, owners, contacts, tasks and notes in the SQL store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import aliased

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
        async with self.engine.connect() as conn:
            row = (await conn.execute(_ACCOUNT_WITH_CSM, {"account_id": account_id})).one_or_none()
        if row is None:
            return None
        return AccountSnapshot(
            account_id=row.id,
            name=row.name,
            tier=Tier(row.tier),
            arr=row.arr,
            renewal_date=row.renewal_date,
            health=row.health,
            usage_pct=row.usage_pct,
            csm=row.csm_name,
            csm_id=row.csm_id,
            flags=tuple(AccountFlag(f) for f in row.flags or ()),
            fit=Fit(row.fit) if row.fit else None,
            sponsor_status=SponsorStatus(row.sponsor_status) if row.sponsor_status else None,
        )

    async def get_owner(self, account_id: str, role: OwnerRole) -> Person | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(_OWNER, {"account_id": account_id, "role": role.value})).one_or_none()
        return Person(row.name, row.email, row.owner_id) if row else None

    async def get_primary_contact(self, account_id: str) -> Person | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(_PRIMARY_CONTACT, {"account_id": account_id})).one_or_none()
        return Person(row.name, row.email) if row else None

    @staticmethod
    async def _known(session: Any, account_id: str) -> None:
        if await session.get(Account, account_id) is None:
            raise _no_account(account_id)

    async def create_task(self, request: CrmTaskRequest, owner: Person | None) -> str:
        """One statement asks both whether the key made a task already and whether the account
        exists; a new task is inserted with its id returned, in the same transaction."""
        account_id = request.save.account_id
        try:
            async with self.engine.begin() as conn:
                made, known = (
                    await conn.execute(_TASK_OR_ACCOUNT, {"key": request.key, "account_id": account_id})
                ).one()
                if made is not None:
                    return f"T-{made}"
                if not known:
                    raise _no_account(account_id)
                values = _task_values(request, owner.person_id if owner else None, owner.name if owner else None)
                new_id = (await conn.execute(insert(CrmTask).values(values).returning(CrmTask.id))).scalar_one()
                return f"T-{new_id}"
        except IntegrityError:  # a concurrent attempt created it first
            pass
        async with self.engine.connect() as conn:
            task_id = await self._task_id(conn, request.key)
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
        """``session``: an ORM session or a connection."""
        found = (await session.execute(select(CrmTask.id).where(CrmTask.key == key))).scalar()
        return None if found is None else f"T-{found}"

    async def close_tasks(self, keys: Sequence[str], status: str, at: datetime) -> int:
        if not keys:
            return 0
        match = or_(*[or_(CrmTask.key == k, CrmTask.key.startswith(f"{k}/", autoescape=True)) for k in keys])
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(CrmTask).where(match, CrmTask.status == "open").values(status=status, closed_at=at)
            )
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
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(Account.health, Account.usage_pct).where(Account.id == account_id))
            ).one_or_none()
        if row is None:
            return HealthReading(account_id=account_id, health=None)
        return HealthReading(account_id=account_id, health=row.health, usage_pct=row.usage_pct)

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


def _no_account(account_id: str) -> RejectedByCrm:
    return RejectedByCrm(f"the CRM has no account {account_id!r}")


def _task_values(request: CrmTaskRequest, owner_id: str | None, owner_name: str | None) -> dict[str, Any]:
    """The row of an open task, made for ``request`` and given to its owner."""
    return {
        "key": request.key,
        "account_id": request.save.account_id,
        "save_id": request.save.save_id,
        "owner_role": request.owner.value,
        "owner_id": owner_id,
        "owner_name": owner_name,
        "title": request.title,
        "body": request.body,
        "due_at": request.due_at,
        "status": "open",
        "created_at": request.at,
    }


def _new_task(request: CrmTaskRequest, owner_id: str | None, owner_name: str | None) -> CrmTask:
    return CrmTask(**_task_values(request, owner_id, owner_name))


# The reads every activity makes, one statement each, built once: the account's own owner of a role
# comes before the team-wide one (``owners.account_id = '*'``).
_OWNER = (
    select(Owner.name, Owner.email, Owner.owner_id)
    .where(Owner.role == bindparam("role"), Owner.account_id.in_([bindparam("account_id"), TEAM]))
    .order_by(Owner.account_id == TEAM)
    .limit(1)
)
_CSM = aliased(Owner, name="csm")
_TEAM_CSM = aliased(Owner, name="team_csm")
_ACCOUNT_WITH_CSM = (
    select(
        Account.id,
        Account.name,
        Account.tier,
        Account.arr,
        Account.renewal_date,
        Account.health,
        Account.usage_pct,
        Account.flags,
        Account.fit,
        Account.sponsor_status,
        func.coalesce(_CSM.name, _TEAM_CSM.name).label("csm_name"),
        func.coalesce(_CSM.owner_id, _TEAM_CSM.owner_id).label("csm_id"),
    )
    .outerjoin(_CSM, (_CSM.account_id == Account.id) & (_CSM.role == OwnerRole.CSM.value))
    .outerjoin(_TEAM_CSM, (_TEAM_CSM.account_id == TEAM) & (_TEAM_CSM.role == OwnerRole.CSM.value))
    .where(Account.id == bindparam("account_id"))
)
_PRIMARY_CONTACT = (
    select(Contact.name, Contact.email)
    .where(Contact.account_id == bindparam("account_id"))
    .order_by(Contact.primary.desc(), Contact.id)
    .limit(1)
)
_TASK_OR_ACCOUNT = select(
    select(CrmTask.id).where(CrmTask.key == bindparam("key")).scalar_subquery().label("made"),
    exists().where(Account.id == bindparam("account_id")).label("known"),
)
