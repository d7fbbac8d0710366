"""Salesforce as the CRM of the saves: :class:`activities.crm.CrmAdapter` over Salesforce's REST API.

How our terms map onto Salesforce (the README lists the fields to create):
- an account is an Account whose external-id field ``Saves_Account_Id__c`` holds the account id;
  tier, ARR, renewal date, health, usage and risk status are Account fields ``Saves_*__c``;
- the CSM is the Account owner (``OwnerId``); another role is the User in the Account's lookup
  field for that role (``Saves_Cs_Manager__c`` ...), else the team-wide User from the settings;
- the customer contact is the Account's Contact marked ``Saves_Primary__c``, else the first one;
- tasks are Tasks on the Account (``WhatId``) and notes are completed Tasks (``Saves_Kind__c`` =
  ``note``); both carry our idempotency key in ``Saves_Key__c``, a unique external-id field, so
  Salesforce itself refuses a second record with one key: that ``DUPLICATE_VALUE`` answer names
  the record already made, and its id is returned;
- a write of several records (risk status and its note; an owner and the tasks moving to them)
  is one ``composite`` request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from activities.crm import Person
from activities.crm_errors import RejectedByCrm
from activities.salesforce.client import SalesforceClient, SalesforceError
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

OPEN, CLOSED = "Not Started", "Completed"
COLLECTION = 200
"""Most records one sObject Collections request takes."""
DUPLICATE_ID = re.compile(r"record with id: (\w{15,18})")


def owner_field(role: OwnerRole) -> str:
    """The Account lookup field naming the User who owns ``role``: ``cs_manager`` -> ``Saves_Cs_Manager__c``."""
    return "Saves_" + "_".join(part.capitalize() for part in role.value.split("_")) + "__c"


def quote(value: str) -> str:
    """A SOQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _number(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


class SalesforceCrm:
    def __init__(
        self,
        client: SalesforceClient,
        team_owners: dict[str, str] | None = None,
        account_field: str = "Saves_Account_Id__c",
        owner_roles: Sequence[OwnerRole] | None = None,
    ) -> None:
        self.client = client
        self.team_owners = team_owners or {}
        self.account_field = account_field
        roles = [r for r in OwnerRole if r is not OwnerRole.CSM] if owner_roles is None else owner_roles
        self.owner_fields: dict[OwnerRole, str] = {
            role: owner_field(role) for role in roles if role is not OwnerRole.CSM
        }
        self._users: dict[str, Person | None] = {}

    async def aclose(self) -> None:
        await self.client.aclose()

    async def changes_since(self, cursor: str | None) -> ChangesPage:
        """What people did in Salesforce after ``cursor`` (see :mod:`activities.salesforce.inbound`)."""
        from activities.salesforce.inbound import SalesforceInbound  # it builds on this module

        return await SalesforceInbound(self).changes_since(cursor)

    # --- lookups ----------------------------------------------------------------------------

    def _account_fields(self) -> list[str]:
        fields = [
            "Id",
            "Name",
            "OwnerId",
            "Owner.Name",
            "Owner.Email",
            "AnnualRevenue",
            self.account_field,
            "Saves_Tier__c",
            "Saves_ARR__c",
            "Saves_Renewal_Date__c",
            "Saves_Health__c",
            "Saves_Usage_Pct__c",
            "Saves_Risk_Status__c",
        ]
        for field in self.owner_fields.values():
            relation = field[:-3] + "__r"
            fields += [field, f"{relation}.Name", f"{relation}.Email"]
        return fields

    async def _account(self, account_id: str) -> dict[str, Any] | None:
        rows = await self.client.query(
            f"SELECT {', '.join(self._account_fields())} FROM Account "
            f"WHERE {self.account_field} = {quote(account_id)} LIMIT 2"
        )
        return rows[0] if rows else None

    async def _account_id(self, account_id: str) -> str:
        account = await self._account(account_id)
        if account is None:
            raise RejectedByCrm(f"Salesforce has no Account with {self.account_field} = {account_id!r}")
        return str(account["Id"])

    async def _user(self, user_id: str | None) -> Person | None:
        if not user_id:
            return None
        if user_id not in self._users:
            rows = await self.client.query(f"SELECT Id, Name, Email FROM User WHERE Id = {quote(user_id)}")
            self._users[user_id] = (
                Person(rows[0]["Name"] or rows[0]["Email"] or user_id, rows[0]["Email"], user_id) if rows else None
            )
        return self._users[user_id]

    async def get_account(self, account_id: str) -> AccountSnapshot | None:
        account = await self._account(account_id)
        if account is None:
            return None
        tier = str(account.get("Saves_Tier__c") or "").strip().lower()
        if tier not in {t.value for t in Tier}:
            raise RejectedByCrm(
                f"Salesforce Account {account['Id']} ({account_id}): Saves_Tier__c "
                f"{repr(tier) if tier else '(empty)'} must be one of {', '.join(t.value for t in Tier)}"
            )
        owner = account.get("Owner") or {}
        renewal = account.get("Saves_Renewal_Date__c")
        health = _number(account.get("Saves_Health__c"))
        return AccountSnapshot(
            account_id=account_id,
            name=account.get("Name") or account_id,
            tier=Tier(tier),
            arr=_number(account.get("Saves_ARR__c")) or _number(account.get("AnnualRevenue")) or 0.0,
            renewal_date=date.fromisoformat(str(renewal)[:10]) if renewal else None,
            health=None if health is None else round(health),
            usage_pct=_number(account.get("Saves_Usage_Pct__c")),
            csm=owner.get("Name") if account.get("OwnerId") else None,
            csm_id=account.get("OwnerId"),
        )

    async def get_owner(self, account_id: str, role: OwnerRole) -> Person | None:
        account = await self._account(account_id) or {}
        if role is OwnerRole.CSM:
            user_id, related = account.get("OwnerId"), account.get("Owner")
        else:
            field = self.owner_fields.get(role)
            user_id = account.get(field) if field else None
            related = account.get(field[:-3] + "__r") if field else None
        if user_id and related:
            return Person(related.get("Name") or user_id, related.get("Email"), str(user_id))
        return await self._user(user_id or self.team_owners.get(role.value))

    async def get_primary_contact(self, account_id: str) -> Person | None:
        contacts = await self.client.query(
            "SELECT Id, Name, Email, Saves_Primary__c, CreatedDate FROM Contact "
            f"WHERE Account.{self.account_field} = {quote(account_id)} LIMIT 200"
        )
        if not contacts:
            return None
        first = sorted(
            contacts, key=lambda c: (not c.get("Saves_Primary__c"), not c.get("Email"), str(c.get("CreatedDate")))
        )[0]
        return Person(first.get("Name") or first.get("Email") or "there", first.get("Email"), str(first["Id"]))

    async def read_health(self, account_id: str) -> HealthReading:
        account = await self._account(account_id)
        if account is None:
            return HealthReading(account_id=account_id, health=None)
        health = _number(account.get("Saves_Health__c"))
        return HealthReading(
            account_id=account_id,
            health=None if health is None else round(health),
            usage_pct=_number(account.get("Saves_Usage_Pct__c")),
        )

    # --- writes, each idempotent on its key -------------------------------------------------

    async def _by_key(self, key: str) -> str | None:
        rows = await self.client.query(f"SELECT Id FROM Task WHERE Saves_Key__c = {quote(key)} LIMIT 1")
        return str(rows[0]["Id"]) if rows else None

    @staticmethod
    def _already_made(exc: SalesforceError) -> str | None:
        """The id of the record that holds our key, when Salesforce refused a duplicate external id."""
        if exc.code != "DUPLICATE_VALUE" or "Saves_Key__c" not in str(exc):
            return None
        found = DUPLICATE_ID.search(str(exc))
        return found.group(1) if found else ""

    async def _create_once(self, key: str, fields: dict[str, Any]) -> str:
        existing = await self._by_key(key)
        if existing is not None:
            return existing
        try:
            created = await self.client.request("POST", "/sobjects/Task", {**fields, "Saves_Key__c": key})
        except SalesforceError as exc:
            made = self._already_made(exc)
            if made is None:
                raise
            return made or await self._by_key(key) or ""
        return str(created["id"])

    async def create_task(self, request: CrmTaskRequest, owner: Person | None) -> str:
        what = await self._account_id(request.save.account_id)
        fields: dict[str, Any] = {
            "WhatId": what,
            "Subject": request.title[:255],
            "Description": request.body,
            "ActivityDate": request.due_at.astimezone(UTC).date().isoformat(),
            "Status": OPEN,
            "Priority": "High",
            "Saves_Save_Id__c": request.save.save_id,
            "Saves_Kind__c": "task",
        }
        if owner and owner.person_id:
            fields["OwnerId"] = owner.person_id
        return await self._create_once(request.key, fields)

    def _note_fields(self, what: str, request: NoteRequest) -> dict[str, Any]:
        return {
            "WhatId": what,
            "Subject": (request.text.splitlines() or ["Save note"])[0][:255],
            "Description": request.text,
            "ActivityDate": request.at.astimezone(UTC).date().isoformat(),
            "Status": CLOSED,
            "Saves_Save_Id__c": request.save.save_id,
            "Saves_Kind__c": "note",
        }

    async def add_note(self, request: NoteRequest) -> None:
        what = await self._account_id(request.save.account_id)
        await self._create_once(request.key, self._note_fields(what, request))

    async def _update_collection(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), COLLECTION):
            results = await self.client.request(
                "PATCH", "/composite/sobjects", {"allOrNone": False, "records": records[start : start + COLLECTION]}
            )
            for result in results or []:
                if not result.get("success"):
                    error = (result.get("errors") or [{}])[0]
                    raise SalesforceError(
                        400,
                        str(error.get("statusCode", "ERROR")),
                        str(error.get("message", "")),
                        "PATCH",
                        "/composite/sobjects",
                    )

    async def close_tasks(self, keys: Sequence[str], status: str, at: datetime) -> int:
        if not keys:
            return 0
        save_ids = sorted({key.split("/", 1)[0] for key in keys})
        open_tasks = await self.client.query(
            "SELECT Id, Saves_Key__c FROM Task WHERE "
            f"Saves_Save_Id__c IN ({', '.join(quote(s) for s in save_ids)}) "
            "AND IsClosed = false AND Saves_Kind__c = 'task'"
        )
        closing = [
            str(t["Id"])
            for t in open_tasks
            if any(str(t.get("Saves_Key__c")) == k or str(t.get("Saves_Key__c")).startswith(f"{k}/") for k in keys)
        ]
        await self._update_collection(
            [
                {"attributes": {"type": "Task"}, "id": task_id, "Status": CLOSED, "Saves_Outcome__c": status}
                for task_id in closing
            ]
        )
        return len(closing)

    async def _composite(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One ``composite`` call; a subrequest that failed raises, except a duplicate of our key."""
        for request in requests:
            request["url"] = self.client.data_path + request["url"]
        answer = await self.client.request("POST", "/composite", {"allOrNone": False, "compositeRequest": requests})
        results: list[dict[str, Any]] = answer["compositeResponse"]
        for request, result in zip(requests, results, strict=True):
            if result["httpStatusCode"] < 300:
                continue
            body = result.get("body")
            code = str(body[0].get("errorCode")) if isinstance(body, list) and body else "ERROR"
            message = str(body[0].get("message")) if isinstance(body, list) and body else str(body)
            error = SalesforceError(result["httpStatusCode"], code, message, request["method"], request["url"])
            if self._already_made(error) is None:
                raise error
        return results

    async def set_risk_status(self, request: RiskStatusRequest) -> None:
        what = await self._account_id(request.save.account_id)
        note = NoteRequest(
            key=f"{request.save.save_id}/risk/{request.risk.value}/{request.at.astimezone(UTC).isoformat()}",
            save=request.save,
            text=f"Risk status {request.risk.value}: {request.reason}",
            at=request.at,
        )
        await self._composite(
            [
                {
                    "method": "PATCH",
                    "url": f"/sobjects/Account/{what}",
                    "referenceId": "risk",
                    "body": {"Saves_Risk_Status__c": request.risk.value},
                },
                {
                    "method": "POST",
                    "url": "/sobjects/Task",
                    "referenceId": "note",
                    "body": {**self._note_fields(what, note), "Saves_Key__c": note.key},
                },
            ]
        )

    async def assign_owner(self, request: AssignOwnerRequest) -> int:
        """The Account owner (CSM) or the role's lookup field becomes the new User; this save's open
        tasks owned by the previous User move to the new one, in the same composite request."""
        what = await self._account_id(request.save.account_id)
        if request.role is OwnerRole.CSM:
            field = "OwnerId"
        elif request.role in self.owner_fields:
            field = self.owner_fields[request.role]
        else:
            raise RejectedByCrm(f"no Account field holds the {request.role.value} owner (SAVES_SALESFORCE_OWNER_ROLES)")
        previous = await self.get_owner(request.save.account_id, request.role)
        moving: list[dict[str, Any]] = []
        if previous is not None and previous.person_id and previous.person_id != request.owner_id:
            moving = await self.client.query(
                "SELECT Id FROM Task WHERE "
                f"Saves_Save_Id__c = {quote(request.save.save_id)} AND IsClosed = false "
                f"AND Saves_Kind__c = 'task' AND OwnerId = {quote(previous.person_id)}"
            )
        records = [{"attributes": {"type": "Task"}, "id": str(t["Id"]), "OwnerId": request.owner_id} for t in moving]
        subrequests: list[dict[str, Any]] = [
            {
                "method": "PATCH",
                "url": f"/sobjects/Account/{what}",
                "referenceId": "owner",
                "body": {field: request.owner_id},
            }
        ]
        if 0 < len(records) <= COLLECTION:
            subrequests.append(
                {
                    "method": "PATCH",
                    "url": "/composite/sobjects",
                    "referenceId": "tasks",
                    "body": {"allOrNone": False, "records": records},
                }
            )
        await self._composite(subrequests)
        if len(records) > COLLECTION:
            await self._update_collection(records)
        return len(records)
