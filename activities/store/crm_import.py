"""``saves crm import FILE``: load accounts, their owners and contacts from YAML or JSON.

Importing is an upsert: an account that exists is updated, its owners and contacts replaced.
A bad file changes nothing and the error names the entry and the field.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import ConfigDict, EmailStr, Field, StringConstraints, ValidationError
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.store.db import sessions
from activities.store.tables import TEAM, Account, Contact, Owner
from playbook_defs.errors import describe
from playbook_defs.safe_yaml import load_yaml
from playbook_defs.values import SafeModel
from playbook_defs.vocabulary import (
    ACCOUNT_ID_PATTERN,
    AccountFlag,
    Fit,
    OwnerRole,
    SponsorStatus,
    Tier,
)

AccountId = Annotated[str, StringConstraints(pattern=ACCOUNT_ID_PATTERN)]


class _Entry(SafeModel):
    model_config = ConfigDict(extra="forbid")


class OwnerEntry(_Entry):
    id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    email: EmailStr | None = None


class ContactEntry(_Entry):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    email: EmailStr | None = None
    role: Literal["champion", "sponsor", "user", "billing", "other"] = "other"
    primary: bool = False


class AccountEntry(_Entry):
    id: AccountId
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    tier: Tier
    arr: float = Field(ge=0)
    renewal_date: date | None = None
    health: int | None = Field(default=None, ge=0, le=100)
    usage_pct: float | None = Field(default=None, ge=0, le=100)
    flags: list[AccountFlag] = Field(default_factory=list)
    fit: Fit | None = None
    sponsor_status: SponsorStatus | None = None
    onboarding_started: date | None = None
    live_since: date | None = None
    renewal_likelihood: float | None = Field(default=None, ge=0, le=100)
    payment_overdue_since: date | None = None
    last_business_review: date | None = None
    owners: dict[OwnerRole, OwnerEntry] = Field(default_factory=dict)
    contacts: list[ContactEntry] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)


class CrmFile(_Entry):
    team: dict[OwnerRole, OwnerEntry] = Field(default_factory=dict)
    accounts: list[AccountEntry] = Field(default_factory=list)


class CrmImportError(ValueError):
    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


def read_crm_file(path: Path) -> CrmFile:
    """Parse and validate an import file without touching the store."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CrmImportError(path, [f"cannot read the file: {exc.strerror}"]) from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else load_yaml(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise CrmImportError(path, [f"not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"]) from exc
    if not isinstance(data, dict):
        raise CrmImportError(path, ["the top level must be a mapping with 'team' and 'accounts'"])
    try:
        crm = CrmFile.model_validate(data)
    except ValidationError as exc:
        raise CrmImportError(path, describe(exc, data)) from exc
    ids = [a.id for a in crm.accounts]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CrmImportError(path, [f"accounts: duplicate id {d!r}" for d in duplicates])
    return crm


async def import_crm(engine: AsyncEngine, crm: CrmFile) -> int:
    """Upsert everything in one transaction; returns the number of accounts written."""
    async with sessions(engine)() as session, session.begin():
        for role, entry in crm.team.items():
            await session.merge(
                Owner(account_id=TEAM, role=role.value, owner_id=entry.id, name=entry.name, email=entry.email)
            )
        for item in crm.accounts:
            account = await session.get(Account, item.id)
            if account is None:
                account = Account(id=item.id, risk_status="green")
                session.add(account)
            account.name = item.name
            account.tier = item.tier.value
            account.arr = item.arr
            account.renewal_date = item.renewal_date
            account.health = item.health
            account.usage_pct = item.usage_pct
            account.attributes = item.attributes
            account.flags = [f.value for f in item.flags]
            account.fit = item.fit.value if item.fit else None
            account.sponsor_status = item.sponsor_status.value if item.sponsor_status else None
            account.onboarding_started = item.onboarding_started
            account.live_since = item.live_since
            account.renewal_likelihood = item.renewal_likelihood
            account.payment_overdue_since = item.payment_overdue_since
            account.last_business_review = item.last_business_review
            await session.execute(delete(Owner).where(Owner.account_id == item.id))
            await session.execute(delete(Contact).where(Contact.account_id == item.id))
            await session.flush()
            for role, entry in item.owners.items():
                session.add(
                    Owner(account_id=item.id, role=role.value, owner_id=entry.id, name=entry.name, email=entry.email)
                )
            for contact in item.contacts:
                session.add(
                    Contact(
                        account_id=item.id,
                        name=contact.name,
                        email=contact.email,
                        role=contact.role,
                        primary=contact.primary,
                    )
                )
    return len(crm.accounts)
