"""One seeded CRM per adapter for the contract suite: the SQL store, HubSpot's fake, Salesforce's fake.

Each world holds the same account (Northwind: CSM Sam Ortiz, executive sponsor Mei Tanaka, the
team's CS manager Dana Reyes, contacts Lee Chan and Priya Nair, Priya primary) and answers the
same questions about what the CRM now holds, so one test runs unchanged on every adapter.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine

from activities.crm import CrmAdapter
from activities.hubspot.client import HubSpotClient
from activities.hubspot.crm import HubSpotCrm
from activities.salesforce.client import ClientCredentials, SalesforceClient
from activities.salesforce.crm import SalesforceCrm
from activities.store import crm_inbound
from activities.store.crm_import import AccountEntry, ContactEntry, CrmFile, OwnerEntry, import_crm
from activities.store.db import create_schema
from activities.store.sql_crm import SqlCrm
from playbook_defs.vocabulary import OwnerRole, Tier
from tests import fake_hubspot, fake_salesforce

ADAPTERS = ["sql", "hubspot", "salesforce"]


def hubspot_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def _no_wait(seconds: float) -> None:
    return None


@dataclass
class World:
    name: str
    crm: CrmAdapter
    users: dict[str, str]
    """Owner ids in this CRM: sam, dana, mei."""
    native: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    async def tasks(self) -> dict[str, tuple[bool, str | None]]:
        """key -> (open, owner id) of every task the saves wrote."""
        if isinstance(self.crm, SqlCrm):
            return {t.key: (t.status == "open", t.owner_id) for t in await self.crm.tasks()}
        if self.name == "hubspot":
            return {
                r["properties"]["saves_key"]: (
                    r["properties"]["hs_task_status"] != "COMPLETED",
                    r["properties"].get("hubspot_owner_id"),
                )
                for r in self.native.records("tasks")
            }
        return {
            r["Saves_Key__c"]: (not r["IsClosed"], r["OwnerId"])
            for r in self.native.live("Task")
            if r["Saves_Kind__c"] == "task"
        }

    async def notes(self) -> list[str]:
        if isinstance(self.crm, SqlCrm):
            return sorted(n.text for n in await self.crm.notes("northwind"))
        if self.name == "hubspot":
            return sorted(r["properties"]["hs_note_body"] for r in self.native.records("notes"))
        return sorted(r["Description"] for r in self.native.live("Task") if r["Saves_Kind__c"] == "note")

    async def risk(self) -> tuple[str, int]:
        """The account's risk status now, and how many times a change of it was recorded."""
        if isinstance(self.crm, SqlCrm):
            changes = await self.crm.risk_changes("northwind")
            return (changes[-1].status if changes else "green"), len(changes)
        notes = [n for n in await self.notes() if n.startswith("Risk status")]
        if self.name == "hubspot":
            return self.native.records("companies")[0]["properties"]["saves_risk_status"], len(notes)
        account = next(a for a in self.native.live("Account") if a["Saves_Account_Id__c"] == "northwind")
        return account["Saves_Risk_Status__c"], len(notes)

    def busy(self, times: int) -> None:
        """The CRM refuses the next ``times`` requests as over its rate limit (SQL: a locked database)."""
        if self.name == "hubspot":
            self.native.throttle(*["1"] * times)
        elif self.name == "salesforce":
            self.native.limit_exceeded = times
        else:
            lock = sqlite3.connect(self.extra["path"], timeout=5)
            lock.execute("BEGIN EXCLUSIVE")
            self.extra["lock"] = lock

    # --- what a person does in the CRM's UI --------------------------------------------------

    def _hubspot_task(self, key: str) -> str:
        return str(next(r["id"] for r in self.native.records("tasks") if r["properties"]["saves_key"] == key))

    def _salesforce_task(self, key: str) -> str:
        return str(next(r["Id"] for r in self.native.live("Task") if r["Saves_Key__c"] == key))

    async def complete_in_crm(self, key: str, at: datetime) -> None:
        """Sam Ortiz marks the task done."""
        if self.name == "sql":
            await crm_inbound.complete_task(self.crm.engine, key, "Sam Ortiz", at)  # type: ignore[attr-defined]
        elif self.name == "hubspot":
            properties = {"hs_task_status": "COMPLETED", "hs_task_completion_date": hubspot_time(at)}
            self.native.ui_update("tasks", self._hubspot_task(key), properties, user_id=501)
        else:
            self.native.update("Task", self._salesforce_task(key), {"Status": "Completed"}, by=self.users["sam"])

    async def delete_in_crm(self, key: str, at: datetime) -> None:
        if self.name == "sql":
            await crm_inbound.delete_task(self.crm.engine, key, "Sam Ortiz", at)  # type: ignore[attr-defined]
        elif self.name == "hubspot":
            self.native.archive("tasks", self._hubspot_task(key))
        else:
            self.native.delete("Task", self._salesforce_task(key), by=self.users["sam"])

    async def log_call(self, at: datetime, contact: str = "priya") -> None:
        """Sam logs a call with a contact of Northwind that took place at ``at``."""
        if self.name == "sql":
            name = {"priya": "Priya Nair", "lee": "Lee Chan"}[contact]
            await crm_inbound.log_touch(self.crm.engine, "northwind", name, at, by="Sam Ortiz")  # type: ignore[attr-defined]
        elif self.name == "hubspot":
            call = self.native.add(
                "calls", {"hs_timestamp": hubspot_time(at), "hs_call_title": "Check-in", "hubspot_owner_id": "501"}
            )
            self.native.associate("calls", call, "contacts", self.extra[contact], 194)
        else:
            self.native.add(
                "Task",
                {
                    "WhoId": self.extra[contact],
                    "Subject": "Call",
                    "TaskSubtype": "Call",
                    "Status": "Completed",
                    "CompletedDateTime": fake_salesforce.stamp(at),
                    "OwnerId": self.users["sam"],
                },
                by=self.users["sam"],
            )

    async def reassign_in_crm(self, at: datetime) -> None:
        """A manager makes Dana Reyes the CSM of Northwind."""
        if self.name == "sql":
            await crm_inbound.change_owner(
                self.crm.engine,  # type: ignore[attr-defined]
                "northwind",
                OwnerRole.CSM,
                "dana",
                "Dana Reyes",
                "dana.reyes@ourco.example.com",
                by="Sam Ortiz",
                at=at,
            )
        elif self.name == "hubspot":
            self.native.ui_update("companies", self.extra["company"], {"hubspot_owner_id": "502"}, user_id=501)
        else:
            self.native.update("Account", self.extra["account"], {"OwnerId": self.users["dana"]}, by=self.users["sam"])

    def idle(self) -> None:
        if self.name == "sql" and "lock" in self.extra:
            self.extra.pop("lock").rollback()


@asynccontextmanager
async def sql_world(tmp_path: Path) -> AsyncIterator[World]:
    path = tmp_path / "crm.db"
    # a short busy timeout: a locked database fails the attempt at once (Temporal retries it)
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}", connect_args={"timeout": 0.2})
    await create_schema(engine)
    await import_crm(
        engine,
        CrmFile(
            team={OwnerRole.CS_MANAGER: OwnerEntry(id="dana", name="Dana Reyes", email="dana.reyes@ourco.example.com")},
            accounts=[
                AccountEntry(
                    id="northwind",
                    name="Northwind Logistics",
                    tier=Tier.ENTERPRISE,
                    arr=240000,
                    renewal_date=date(2027, 3, 31),
                    health=38,
                    usage_pct=61,
                    owners={
                        OwnerRole.CSM: OwnerEntry(id="sam", name="Sam Ortiz", email="sam.ortiz@ourco.example.com"),
                        OwnerRole.EXECUTIVE_SPONSOR: OwnerEntry(
                            id="mei", name="Mei Tanaka", email="mei.tanaka@ourco.example.com"
                        ),
                    },
                    contacts=[
                        ContactEntry(name="Lee Chan", email="lee@northwind.example"),
                        ContactEntry(name="Priya Nair", email="priya@northwind.example", primary=True),
                    ],
                )
            ],
        ),
    )
    try:
        yield World("sql", SqlCrm(engine), {"sam": "sam", "dana": "dana", "mei": "mei"}, extra={"path": str(path)})
    finally:
        await engine.dispose()


@asynccontextmanager
async def hubspot_world() -> AsyncIterator[World]:
    with fake_hubspot.running() as fake:
        fake.clock = datetime(2027, 3, 1, tzinfo=UTC)
        fake.add_owner("501", "Sam", "Ortiz", "sam.ortiz@ourco.example.com")
        fake.add_owner("502", "Dana", "Reyes", "dana.reyes@ourco.example.com")
        fake.add_owner("503", "Mei", "Tanaka", "mei.tanaka@ourco.example.com")
        company = fake.add(
            "companies",
            {
                "name": "Northwind Logistics",
                "saves_account_id": "northwind",
                "saves_tier": "enterprise",
                "saves_arr": "240000",
                "saves_renewal_date": "2027-03-31",
                "saves_health": "38",
                "saves_usage_pct": "61",
                "hubspot_owner_id": "501",
                "saves_owner_executive_sponsor": "503",
            },
        )
        lee = fake.add("contacts", {"firstname": "Lee", "lastname": "Chan", "email": "lee@northwind.example"})
        priya = fake.add(
            "contacts",
            {"firstname": "Priya", "lastname": "Nair", "email": "priya@northwind.example", "saves_primary": "true"},
        )
        for contact in (lee, priya):
            fake.associate("companies", company, "contacts", contact, 280)
            fake.associate("contacts", contact, "companies", company, 279)
        stranger = fake.add("contacts", {"firstname": "Ada", "lastname": "Lovelace", "email": "ada@elsewhere.example"})
        crm = HubSpotCrm(HubSpotClient(fake_hubspot.TOKEN, fake.url, sleep=_no_wait), team_owners={"cs_manager": "502"})
        try:
            yield World(
                "hubspot",
                crm,
                {"sam": "501", "dana": "502", "mei": "503"},
                native=fake,
                extra={"company": company, "lee": lee, "priya": priya, "stranger": stranger},
            )
        finally:
            await crm.aclose()


@asynccontextmanager
async def salesforce_world() -> AsyncIterator[World]:
    with fake_salesforce.running() as fake:
        sam = fake.add("User", {"FirstName": "Sam", "LastName": "Ortiz", "Email": "sam.ortiz@ourco.example.com"})
        dana = fake.add("User", {"FirstName": "Dana", "LastName": "Reyes", "Email": "dana.reyes@ourco.example.com"})
        mei = fake.add("User", {"FirstName": "Mei", "LastName": "Tanaka", "Email": "mei.tanaka@ourco.example.com"})
        account = fake.add(
            "Account",
            {
                "Name": "Northwind Logistics",
                "OwnerId": sam,
                "Saves_Account_Id__c": "northwind",
                "Saves_Tier__c": "enterprise",
                "Saves_ARR__c": 240000,
                "Saves_Renewal_Date__c": "2027-03-31",
                "Saves_Health__c": 38,
                "Saves_Usage_Pct__c": 61,
                "Saves_Executive_Sponsor__c": mei,
            },
        )
        lee = fake.add(
            "Contact", {"AccountId": account, "FirstName": "Lee", "LastName": "Chan", "Email": "lee@northwind.example"}
        )
        priya = fake.add(
            "Contact",
            {
                "AccountId": account,
                "FirstName": "Priya",
                "LastName": "Nair",
                "Email": "priya@northwind.example",
                "Saves_Primary__c": True,
            },
        )
        elsewhere = fake.add("Account", {"Name": "Elsewhere Ltd", "OwnerId": sam})
        stranger = fake.add(
            "Contact",
            {"AccountId": elsewhere, "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@elsewhere.example"},
        )
        auth = ClientCredentials(fake.url, fake_salesforce.CLIENT_ID, fake_salesforce.CLIENT_SECRET)
        crm = SalesforceCrm(SalesforceClient(auth, sleep=_no_wait), team_owners={"cs_manager": dana})
        try:
            yield World(
                "salesforce",
                crm,
                {"sam": sam, "dana": dana, "mei": mei},
                native=fake,
                extra={"account": account, "lee": lee, "priya": priya, "stranger": stranger},
            )
        finally:
            await crm.aclose()


@asynccontextmanager
async def world(name: str, tmp_path: Path) -> AsyncIterator[World]:
    if name == "sql":
        async with sql_world(tmp_path) as w:
            yield w
    elif name == "hubspot":
        async with hubspot_world() as w:
            yield w
    else:
        async with salesforce_world() as w:
            yield w
