"""What people did in Salesforce, read back as inbound events for the saves (SOQL on ``LastModifiedDate``).

- a Task with ``Saves_Kind__c = 'task'`` closed by a person (``Saves_Outcome__c`` empty: the saves
  set it when they close their own tasks) -> ``task_completed`` at its ``CompletedDateTime``, by
  ``LastModifiedBy``; opened again -> ``task_reopened``; deleted (``queryAll`` still returns it,
  ``IsDeleted = true``) -> ``task_deleted``;
- a logged call or email (a closed Task with ``TaskSubtype`` ``Call`` / ``Email`` and a Contact as
  ``WhoId``) or a meeting (an Event with a Contact) on an Account with ``Saves_Account_Id__c`` ->
  ``customer_touch`` at the call's ``CompletedDateTime`` or the meeting's ``StartDateTime``;
- an Account a person modified -> ``owner_changed`` for its owner (CSM) and each role's lookup field.

Changes made by the integration user (the saves' own writes) are skipped. Change Data Capture can
push the same changes instead of this polling; the README describes it as an option.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from activities.salesforce.client import SalesforceError
from activities.salesforce.crm import SalesforceCrm
from playbook_defs.vocabulary import OwnerRole
from workflows.contracts import ChangesPage, InboundEvent, InboundKind, TouchChannel

OVERLAP = timedelta(seconds=60)
"""Each read starts this long before the cursor: a long transaction commits after its LastModifiedDate."""
TOUCH_SUBTYPES = {"Call": TouchChannel.CALL, "Email": TouchChannel.EMAIL}


def parse_time(value: Any) -> datetime | None:
    """Salesforce's ``2027-03-01T09:30:00.000+0000`` as an aware datetime."""
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    if text[-5:-4] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text).astimezone(UTC)


def soql_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class SalesforceInbound:
    def __init__(self, crm: SalesforceCrm) -> None:
        self.crm = crm
        self.client = crm.client

    def _task_events(self, task: dict[str, Any], me: str) -> list[InboundEvent]:
        modified = parse_time(task.get("LastModifiedDate"))
        assert modified is not None
        changer = (task.get("LastModifiedBy") or {}).get("Name")
        account = (task.get("Account") or {}).get(self.crm.account_field)
        if task.get("Saves_Kind__c") == "task" and task.get("Saves_Key__c"):
            key = str(task["Saves_Key__c"])
            if task.get("IsDeleted"):
                kind = InboundKind.TASK_DELETED
            elif task.get("LastModifiedById") == me:
                return []
            elif task.get("IsClosed"):
                if task.get("Saves_Outcome__c"):
                    return []
                kind = InboundKind.TASK_COMPLETED
            else:
                kind = InboundKind.TASK_REOPENED
            at = parse_time(task.get("CompletedDateTime")) if kind is InboundKind.TASK_COMPLETED else None
            return [
                InboundEvent(
                    crm="salesforce",
                    kind=kind,
                    source_id=str(task["Id"]),
                    at=at or modified,
                    account_id=account,
                    task_key=key,
                    by=changer,
                    by_id=task.get("LastModifiedById"),
                )
            ]
        channel = TOUCH_SUBTYPES.get(str(task.get("TaskSubtype")))
        who = str(task.get("WhoId") or "")
        if channel and task.get("IsClosed") and not task.get("IsDeleted") and who.startswith("003") and account:
            return [
                InboundEvent(
                    crm="salesforce",
                    kind=InboundKind.CUSTOMER_TOUCH,
                    source_id=str(task["Id"]),
                    at=parse_time(task.get("CompletedDateTime")) or modified,
                    account_id=account,
                    channel=channel,
                    contact=(task.get("Who") or {}).get("Name"),
                    by=(task.get("Owner") or {}).get("Name"),
                    by_id=task.get("OwnerId"),
                )
            ]
        return []

    def _meeting_events(self, event: dict[str, Any]) -> list[InboundEvent]:
        account = (event.get("Account") or {}).get(self.crm.account_field)
        start = parse_time(event.get("StartDateTime"))
        if not account or start is None or not str(event.get("WhoId") or "").startswith("003"):
            return []
        return [
            InboundEvent(
                crm="salesforce",
                kind=InboundKind.CUSTOMER_TOUCH,
                source_id=str(event["Id"]),
                at=start,
                account_id=account,
                channel=TouchChannel.MEETING,
                contact=(event.get("Who") or {}).get("Name"),
                by=(event.get("Owner") or {}).get("Name"),
                by_id=event.get("OwnerId"),
            )
        ]

    def _owner_events(self, account: dict[str, Any], me: str) -> list[InboundEvent]:
        at = parse_time(account.get("LastModifiedDate"))
        account_id = account.get(self.crm.account_field)
        if at is None or not account_id or account.get("LastModifiedById") == me:
            return []
        fields: dict[OwnerRole, str] = {OwnerRole.CSM: "OwnerId"}
        fields.update(self.crm.owner_fields)
        events = []
        for role, field in fields.items():
            user_id = account.get(field)
            if not user_id:
                continue
            related = account.get("Owner" if field == "OwnerId" else field[:-3] + "__r") or {}
            events.append(
                InboundEvent(
                    crm="salesforce",
                    kind=InboundKind.OWNER_CHANGED,
                    source_id=f"{account['Id']}-{role.value}-{user_id}",
                    at=at,
                    account_id=account_id,
                    role=role,
                    owner_id=str(user_id),
                    owner_name=related.get("Name"),
                    owner_email=related.get("Email"),
                    by=(account.get("LastModifiedBy") or {}).get("Name"),
                    by_id=account.get("LastModifiedById"),
                )
            )
        return events

    async def changes_since(self, cursor: str | None) -> ChangesPage:
        """Events from Tasks (deleted ones too), Events and Accounts modified after ``cursor`` (a
        UTC timestamp) less :data:`OVERLAP`; the next cursor is the newest modification seen."""
        try:
            last = parse_time(cursor) if cursor else None
        except ValueError:
            raise SalesforceError(400, "SAVES_CURSOR", f"cursor {cursor!r} is not a timestamp", "GET", "-") from None
        since = soql_time(last - OVERLAP) if last else "1970-01-01T00:00:00.000Z"
        me = await self.client.whoami()
        account_field = f"Account.{self.crm.account_field}"
        tasks = await self.client.query(
            "SELECT Id, Saves_Key__c, Saves_Kind__c, Saves_Outcome__c, IsClosed, IsDeleted, TaskSubtype, "
            "CompletedDateTime, LastModifiedDate, LastModifiedById, LastModifiedBy.Name, WhoId, Who.Name, "
            f"OwnerId, Owner.Name, {account_field} FROM Task WHERE LastModifiedDate > {since} "
            "ORDER BY LastModifiedDate, Id",
            deleted=True,
        )
        meetings = await self.client.query(
            "SELECT Id, StartDateTime, WhoId, Who.Name, OwnerId, Owner.Name, LastModifiedDate, "
            f"{account_field} FROM Event WHERE LastModifiedDate > {since} ORDER BY LastModifiedDate, Id"
        )
        owner_fields = ["OwnerId", "Owner.Name", "Owner.Email"]
        for field in self.crm.owner_fields.values():
            owner_fields += [field, f"{field[:-3]}__r.Name", f"{field[:-3]}__r.Email"]
        accounts = await self.client.query(
            f"SELECT Id, {self.crm.account_field}, {', '.join(owner_fields)}, LastModifiedDate, "
            f"LastModifiedById, LastModifiedBy.Name FROM Account WHERE LastModifiedDate > {since} "
            "ORDER BY LastModifiedDate, Id"
        )
        events: list[InboundEvent] = []
        for task in tasks:
            events += self._task_events(task, me)
        for meeting in meetings:
            events += self._meeting_events(meeting)
        for account in accounts:
            events += self._owner_events(account, me)
        stamps = [parse_time(r.get("LastModifiedDate")) for r in (*tasks, *meetings, *accounts)]
        newest = max([s for s in stamps if s is not None] + ([last] if last else []), default=None)
        events.sort(key=lambda e: (e.at, e.key))
        return ChangesPage(events=events, cursor=newest.isoformat() if newest else cursor)
