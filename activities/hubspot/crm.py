"""HubSpot as the CRM of the saves: :class:`activities.crm.CrmAdapter` over HubSpot's CRM v3 API.

How our terms map onto HubSpot (the README lists the properties to create):
- an account is a company whose property ``saves_account_id`` holds the account id; tier, ARR,
  renewal date, health, usage and risk status are company properties ``saves_*``;
- the CSM is the company owner (``hubspot_owner_id``); another role is the owner named in the
  company property ``saves_owner_<role>``, else the team-wide owner from the settings;
- the customer contact is the associated contact marked ``saves_primary``, else the first one;
- tasks and notes carry our idempotency key in ``saves_key`` (make it a unique-value property
  where your HubSpot allows): a write first looks the key up, and a conflict on create means an
  earlier attempt got there first, so its record is returned instead of a second one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from activities.crm import Person
from activities.hubspot.client import HubSpotClient, HubSpotError
from playbook_defs.vocabulary import OwnerRole, Tier
from workflows.contracts import (
    AccountSnapshot,
    AssignOwnerRequest,
    ChangesPage,
    CrmTaskRequest,
    HealthReading,
    NoteRequest,
    RiskStatusRequest,
)

TASK_TO_COMPANY = 192
NOTE_TO_COMPANY = 190
"""HubSpot-defined association type ids (engagement to company)."""
COMPANY_PROPERTIES = [
    "name",
    "hubspot_owner_id",
    "annualrevenue",
    "saves_account_id",
    "saves_tier",
    "saves_arr",
    "saves_renewal_date",
    "saves_health",
    "saves_usage_pct",
    "saves_risk_status",
    *[f"saves_owner_{role.value}" for role in OwnerRole],
]
CLOSED = "COMPLETED"
PAGE = 100


def _ms(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


class HubSpotCrm:
    def __init__(
        self,
        client: HubSpotClient,
        team_owners: dict[str, str] | None = None,
        account_property: str = "saves_account_id",
    ) -> None:
        self.client = client
        self.team_owners = team_owners or {}
        self.account_property = account_property
        self._owners: dict[str, Person | None] = {}

    async def aclose(self) -> None:
        await self.client.aclose()

    async def changes_since(self, cursor: str | None) -> ChangesPage:
        """What people did in HubSpot after ``cursor`` (see :mod:`activities.hubspot.inbound`)."""
        from activities.hubspot.inbound import HubSpotInbound  # it builds on this module

        return await HubSpotInbound(self).changes_since(cursor)

    # --- lookups ----------------------------------------------------------------------------

    async def _search(
        self, object_type: str, filters: list[dict[str, Any]], properties: list[str], limit: int = PAGE
    ) -> list[dict[str, Any]]:
        """Every record matching all ``filters`` (HubSpot pages by ``after``)."""
        found: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            body: dict[str, Any] = {"filterGroups": [{"filters": filters}], "properties": properties, "limit": limit}
            if after:
                body["after"] = after
            page = await self.client.request("POST", f"/crm/v3/objects/{object_type}/search", body)
            found += page.get("results", [])
            after = page.get("paging", {}).get("next", {}).get("after")
            if not after or len(found) >= 10_000:  # HubSpot's search stops at 10,000 results
                return found

    async def _company(self, account_id: str) -> dict[str, Any] | None:
        hits = await self._search(
            "companies",
            [{"propertyName": self.account_property, "operator": "EQ", "value": account_id}],
            COMPANY_PROPERTIES,
            limit=2,
        )
        return hits[0] if hits else None

    async def _person(self, owner_id: str | None) -> Person | None:
        if not owner_id:
            return None
        if owner_id not in self._owners:
            try:
                owner = await self.client.request("GET", f"/crm/v3/owners/{owner_id}")
            except HubSpotError as exc:
                if exc.status != 404:
                    raise
                self._owners[owner_id] = None
            else:
                name = " ".join(p for p in (owner.get("firstName"), owner.get("lastName")) if p)
                self._owners[owner_id] = Person(
                    name or owner.get("email") or owner_id, owner.get("email"), str(owner["id"])
                )
        return self._owners[owner_id]

    async def get_account(self, account_id: str) -> AccountSnapshot | None:
        company = await self._company(account_id)
        if company is None:
            return None
        p = company["properties"]
        csm = await self._person(p.get("hubspot_owner_id"))
        renewal = p.get("saves_renewal_date")
        health = _number(p.get("saves_health"))
        tier = (p.get("saves_tier") or "").strip().lower()
        if tier not in {t.value for t in Tier}:
            raise HubSpotError(
                422,
                "SAVES_PROPERTY",
                f"company {company['id']} ({account_id}): saves_tier "
                f"{repr(tier) if tier else '(empty)'} must be one of {', '.join(t.value for t in Tier)}",
                "POST",
                "/crm/v3/objects/companies/search",
            )
        return AccountSnapshot(
            account_id=account_id,
            name=p.get("name") or account_id,
            tier=Tier(tier),
            arr=_number(p.get("saves_arr")) or _number(p.get("annualrevenue")) or 0.0,
            renewal_date=date.fromisoformat(renewal[:10]) if renewal else None,
            health=None if health is None else round(health),
            usage_pct=_number(p.get("saves_usage_pct")),
            csm=csm.name if csm else None,
            csm_id=csm.person_id if csm else None,
        )

    async def get_owner(self, account_id: str, role: OwnerRole) -> Person | None:
        company = await self._company(account_id)
        p = company["properties"] if company else {}
        owner_id = (
            p.get("hubspot_owner_id") if role is OwnerRole.CSM else p.get(f"saves_owner_{role.value}")
        ) or self.team_owners.get(role.value)
        return await self._person(owner_id)

    async def get_primary_contact(self, account_id: str) -> Person | None:
        company = await self._company(account_id)
        if company is None:
            return None
        linked = await self.client.request("GET", f"/crm/v3/objects/companies/{company['id']}/associations/contacts")
        ids = sorted({str(r["id"]) for r in linked.get("results", [])}, key=int)
        if not ids:
            return None
        read = await self.client.request(
            "POST",
            "/crm/v3/objects/contacts/batch/read",
            {
                "properties": ["firstname", "lastname", "email", "saves_primary"],
                "inputs": [{"id": i} for i in ids[:100]],
            },
        )
        contacts = sorted(
            read.get("results", []),
            key=lambda c: (
                str(c["properties"].get("saves_primary")).lower() != "true",
                not c["properties"].get("email"),
                int(c["id"]),
            ),
        )
        if not contacts:
            return None
        p = contacts[0]["properties"]
        name = " ".join(x for x in (p.get("firstname"), p.get("lastname")) if x)
        return Person(name or p.get("email") or "there", p.get("email"), str(contacts[0]["id"]))

    async def read_health(self, account_id: str) -> HealthReading:
        company = await self._company(account_id)
        if company is None:
            return HealthReading(account_id=account_id, health=None)
        health = _number(company["properties"].get("saves_health"))
        return HealthReading(
            account_id=account_id,
            health=None if health is None else round(health),
            usage_pct=_number(company["properties"].get("saves_usage_pct")),
        )

    # --- writes, each idempotent on its key -------------------------------------------------

    async def _by_key(self, object_type: str, key: str) -> str | None:
        hits = await self._search(
            object_type, [{"propertyName": "saves_key", "operator": "EQ", "value": key}], ["saves_key"], limit=1
        )
        return str(hits[0]["id"]) if hits else None

    async def _create_once(self, object_type: str, key: str, body: dict[str, Any]) -> str:
        existing = await self._by_key(object_type, key)
        if existing is not None:
            return existing
        try:
            created = await self.client.request("POST", f"/crm/v3/objects/{object_type}", body)
        except HubSpotError as exc:
            if exc.status != 409:
                raise
            for _ in range(5):  # a racing attempt created it; the search index may trail a moment
                existing = await self._by_key(object_type, key)
                if existing is not None:
                    return existing
                await asyncio.sleep(0.2)
            raise
        return str(created["id"])

    async def _company_id(self, account_id: str) -> str:
        company = await self._company(account_id)
        if company is None:
            raise HubSpotError(
                404,
                "OBJECT_NOT_FOUND",
                f"no company has {self.account_property}={account_id!r}",
                "POST",
                "/crm/v3/objects/companies/search",
            )
        return str(company["id"])

    async def create_task(self, request: CrmTaskRequest, owner: Person | None) -> str:
        company_id = await self._company_id(request.save.account_id)
        properties = {
            "hs_timestamp": _ms(request.due_at),
            "hs_task_subject": request.title,
            "hs_task_body": request.body,
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": "HIGH",
            "saves_key": request.key,
            "saves_save_id": request.save.save_id,
        }
        if owner and owner.person_id:
            properties["hubspot_owner_id"] = owner.person_id
        return await self._create_once(
            "tasks",
            request.key,
            {
                "properties": properties,
                "associations": [
                    {
                        "to": {"id": company_id},
                        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": TASK_TO_COMPANY}],
                    }
                ],
            },
        )

    async def close_tasks(self, keys: Sequence[str], status: str, at: datetime) -> int:
        if not keys:
            return 0
        by_save: dict[str, list[str]] = {}
        for key in keys:
            by_save.setdefault(key.split("/", 1)[0], []).append(key)
        closing: list[str] = []
        for save_id, save_keys in by_save.items():
            open_tasks = await self._search(
                "tasks",
                [
                    {"propertyName": "saves_save_id", "operator": "EQ", "value": save_id},
                    {"propertyName": "hs_task_status", "operator": "NEQ", "value": CLOSED},
                ],
                ["saves_key", "hs_task_status"],
            )
            for task in open_tasks:
                key = str(task["properties"].get("saves_key") or "")
                if any(key == k or key.startswith(f"{k}/") for k in save_keys):
                    closing.append(str(task["id"]))
        for start in range(0, len(closing), 100):
            await self.client.request(
                "POST",
                "/crm/v3/objects/tasks/batch/update",
                {
                    "inputs": [
                        {"id": task_id, "properties": {"hs_task_status": CLOSED, "saves_outcome": status}}
                        for task_id in closing[start : start + 100]
                    ]
                },
            )
        return len(closing)

    async def add_note(self, request: NoteRequest) -> None:
        company_id = await self._company_id(request.save.account_id)
        await self._create_once(
            "notes",
            request.key,
            {
                "properties": {"hs_timestamp": _ms(request.at), "hs_note_body": request.text, "saves_key": request.key},
                "associations": [
                    {
                        "to": {"id": company_id},
                        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_COMPANY}],
                    }
                ],
            },
        )

    async def set_risk_status(self, request: RiskStatusRequest) -> None:
        company_id = await self._company_id(request.save.account_id)
        await self.client.request(
            "PATCH",
            f"/crm/v3/objects/companies/{company_id}",
            {"properties": {"saves_risk_status": request.risk.value}},
        )
        await self.add_note(
            NoteRequest(
                key=f"{request.save.save_id}/risk/{request.risk.value}/{_ms(request.at)}",
                save=request.save,
                text=f"Risk status {request.risk.value}: {request.reason}",
                at=request.at,
            )
        )

    async def assign_owner(self, request: AssignOwnerRequest) -> int:
        """The company owner (CSM) or ``saves_owner_<role>`` becomes the new owner; this save's open
        tasks owned by the previous owner move to the new one."""
        company_id = await self._company_id(request.save.account_id)
        previous = await self.get_owner(request.save.account_id, request.role)
        field = "hubspot_owner_id" if request.role is OwnerRole.CSM else f"saves_owner_{request.role.value}"
        await self.client.request(
            "PATCH", f"/crm/v3/objects/companies/{company_id}", {"properties": {field: request.owner_id}}
        )
        if previous is None or not previous.person_id or previous.person_id == request.owner_id:
            return 0
        moving = await self._search(
            "tasks",
            [
                {"propertyName": "saves_save_id", "operator": "EQ", "value": request.save.save_id},
                {"propertyName": "hs_task_status", "operator": "NEQ", "value": CLOSED},
                {"propertyName": "hubspot_owner_id", "operator": "EQ", "value": previous.person_id},
            ],
            ["hubspot_owner_id"],
        )
        for start in range(0, len(moving), 100):
            await self.client.request(
                "POST",
                "/crm/v3/objects/tasks/batch/update",
                {
                    "inputs": [
                        {"id": str(task["id"]), "properties": {"hubspot_owner_id": request.owner_id}}
                        for task in moving[start : start + 100]
                    ]
                },
            )
        return len(moving)
