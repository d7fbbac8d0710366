"""What people did in HubSpot, read back as inbound events for the saves.

Two ways in, one conversion: the reconciler searches the objects modified since its cursor, and a
webhook names objects that changed; both end in :meth:`HubSpotInbound.events_of`, which reads the
object and says what it means for a save:

- a task with ``saves_key`` set to ``COMPLETED`` by a person (``saves_outcome`` empty: the saves
  set it when they close their own tasks) -> ``task_completed``, at its completion date;
  put back to not completed by a person -> ``task_reopened``; archived -> ``task_deleted``;
- a call, meeting or email associated with a contact of a company that has ``saves_account_id``
  -> ``customer_touch`` at its ``hs_timestamp`` (when it happened, not when it was logged);
- a company a person modified -> ``owner_changed`` for its owner (CSM) and each ``saves_owner_<role>``.

"By a person" means ``hs_updated_by_user_id`` is set: HubSpot leaves it empty for writes through a
private app's token, so the saves do not hear their own writes back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from activities.crm import Person
from activities.hubspot.client import HubSpotError
from activities.hubspot.crm import CLOSED, HubSpotCrm
from activities.store import crm_inbox
from playbook_defs.vocabulary import OwnerRole
from workflows.contracts import ChangesPage, InboundEvent, InboundKind, TouchChannel

OVERLAP_MS = 60_000
"""Each read starts this long before the cursor: HubSpot's search index trails its writes."""
TOUCHES = {"calls": TouchChannel.CALL, "meetings": TouchChannel.MEETING, "emails": TouchChannel.EMAIL}
TASK_PROPERTIES = [
    "saves_key",
    "saves_save_id",
    "hs_task_status",
    "saves_outcome",
    "hs_lastmodifieddate",
    "hs_task_completion_date",
    "hubspot_owner_id",
    "hs_updated_by_user_id",
]
MAX_RESULTS = 10_000


def parse_time(value: Any) -> datetime | None:
    """A HubSpot datetime (ISO 8601 or epoch milliseconds) as an aware datetime."""
    if value in (None, ""):
        return None
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class HubSpotInbound:
    def __init__(self, crm: HubSpotCrm) -> None:
        self.crm = crm
        self.client = crm.client
        self._users: dict[str, Person | None] = {}

    async def _user(self, user_id: str | None) -> Person | None:
        """The owner record of a HubSpot user id (``hs_updated_by_user_id`` holds user ids)."""
        if not user_id:
            return None
        if user_id not in self._users:
            try:
                owner = await self.client.request("GET", f"/crm/v3/owners/{user_id}", params={"idProperty": "userId"})
            except HubSpotError as exc:
                if exc.status != 404:
                    raise
                self._users[user_id] = None
            else:
                name = " ".join(p for p in (owner.get("firstName"), owner.get("lastName")) if p)
                self._users[user_id] = Person(
                    name or owner.get("email") or user_id, owner.get("email"), str(owner["id"])
                )
        return self._users[user_id]

    async def _account_of_task(self, task_id: str) -> str | None:
        """The account of a task: the ``saves_account_id`` of its associated company."""
        companies = await self._read(
            "companies", await self._associated("tasks", task_id, "companies"), [self.crm.account_property]
        )
        accounts = [c["properties"].get(self.crm.account_property) for c in companies]
        return next((a for a in accounts if a), None)

    async def _account_of_save(self, save_id: str) -> str | None:
        """The account of a save, through one of its tasks still there (a deleted task's own
        associations are gone with it)."""
        page = await self.client.request(
            "POST",
            "/crm/v3/objects/tasks/search",
            {
                "filterGroups": [{"filters": [{"propertyName": "saves_save_id", "operator": "EQ", "value": save_id}]}],
                "properties": ["saves_key"],
                "limit": 1,
            },
        )
        hits = page.get("results", [])
        return await self._account_of_task(str(hits[0]["id"])) if hits else None

    async def _task_events(self, task: dict[str, Any]) -> list[InboundEvent]:
        p = task["properties"]
        key = p.get("saves_key")
        if not key:
            return []
        if task.get("archived"):
            at = parse_time(task.get("archivedAt")) or parse_time(p.get("hs_lastmodifieddate"))
            assert at is not None
            return [
                InboundEvent(
                    crm="hubspot",
                    kind=InboundKind.TASK_DELETED,
                    source_id=str(task["id"]),
                    at=at,
                    task_key=key,
                    account_id=await self._account_of_save(p.get("saves_save_id") or key.split("/", 1)[0]),
                )
            ]
        user = p.get("hs_updated_by_user_id")
        if not user:
            return []  # our own write
        person = await self._user(user)
        done = p.get("hs_task_status") == CLOSED
        if done and p.get("saves_outcome"):
            return []
        at = (parse_time(p.get("hs_task_completion_date")) if done else None) or parse_time(
            p.get("hs_lastmodifieddate")
        )
        assert at is not None
        return [
            InboundEvent(
                crm="hubspot",
                kind=InboundKind.TASK_COMPLETED if done else InboundKind.TASK_REOPENED,
                source_id=str(task["id"]),
                at=at,
                task_key=key,
                account_id=await self._account_of_task(str(task["id"])),
                by=person.name if person else None,
                by_id=person.person_id if person else user,
            )
        ]

    async def _associated(self, object_type: str, object_id: str, to_type: str) -> list[str]:
        linked = await self.client.request("GET", f"/crm/v3/objects/{object_type}/{object_id}/associations/{to_type}")
        return sorted({str(r["id"]) for r in linked.get("results", [])}, key=int)

    async def _read(self, object_type: str, ids: list[str], properties: list[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        read = await self.client.request(
            "POST",
            f"/crm/v3/objects/{object_type}/batch/read",
            {"properties": properties, "inputs": [{"id": i} for i in ids[:100]]},
        )
        return list(read.get("results", []))

    async def _touch_events(self, object_type: str, engagement: dict[str, Any]) -> list[InboundEvent]:
        at = parse_time(engagement["properties"].get("hs_timestamp"))
        if at is None:
            return []
        contacts = await self._read(
            "contacts",
            await self._associated(object_type, str(engagement["id"]), "contacts"),
            ["firstname", "lastname", "email"],
        )
        person = await self.crm._person(engagement["properties"].get("hubspot_owner_id"))
        events: dict[str, InboundEvent] = {}
        for contact in contacts:
            cp = contact["properties"]
            name = " ".join(x for x in (cp.get("firstname"), cp.get("lastname")) if x) or cp.get("email")
            companies = await self._read(
                "companies",
                await self._associated("contacts", str(contact["id"]), "companies"),
                [self.crm.account_property],
            )
            for company in companies:
                account = company["properties"].get(self.crm.account_property)
                if account and account not in events:
                    events[account] = InboundEvent(
                        crm="hubspot",
                        kind=InboundKind.CUSTOMER_TOUCH,
                        source_id=f"{object_type}-{engagement['id']}",
                        at=at,
                        account_id=account,
                        channel=TOUCHES[object_type],
                        contact=name,
                        by=person.name if person else None,
                        by_id=person.person_id if person else None,
                    )
        return list(events.values())

    async def _owner_events(self, company: dict[str, Any]) -> list[InboundEvent]:
        p = company["properties"]
        account = p.get(self.crm.account_property)
        at = parse_time(p.get("hs_lastmodifieddate"))
        if not account or at is None or not p.get("hs_updated_by_user_id"):
            return []
        changer = await self._user(p.get("hs_updated_by_user_id"))
        events = []
        for role in OwnerRole:
            field = "hubspot_owner_id" if role is OwnerRole.CSM else f"saves_owner_{role.value}"
            owner = await self.crm._person(p.get(field))
            if owner is None:
                continue
            events.append(
                InboundEvent(
                    crm="hubspot",
                    kind=InboundKind.OWNER_CHANGED,
                    source_id=f"company-{company['id']}-{role.value}-{owner.person_id}",
                    at=at,
                    account_id=account,
                    role=role,
                    owner_id=owner.person_id,
                    owner_name=owner.name,
                    owner_email=owner.email,
                    by=changer.name if changer else None,
                )
            )
        return events

    async def events_of(self, object_type: str, record: dict[str, Any]) -> list[InboundEvent]:
        """What one HubSpot record, as read, means for the saves."""
        if object_type == "tasks":
            return await self._task_events(record)
        if object_type in TOUCHES:
            return await self._touch_events(object_type, record)
        if object_type == "companies":
            return await self._owner_events(record)
        return []

    def _properties(self, object_type: str) -> list[str]:
        if object_type == "tasks":
            return TASK_PROPERTIES
        if object_type == "companies":
            return [
                self.crm.account_property,
                "hs_lastmodifieddate",
                "hs_updated_by_user_id",
                "hubspot_owner_id",
                *[f"saves_owner_{r.value}" for r in OwnerRole if r is not OwnerRole.CSM],
            ]
        return ["hs_timestamp", "hs_lastmodifieddate", "hubspot_owner_id"]

    async def read_object(self, object_type: str, object_id: str, archived: bool = False) -> dict[str, Any] | None:
        """One record as :meth:`events_of` needs it (a webhook names only the id)."""
        params = {"properties": ",".join(self._properties(object_type))}
        if archived:
            params["archived"] = "true"
        try:
            record: dict[str, Any] = await self.client.request(
                "GET", f"/crm/v3/objects/{object_type}/{object_id}", params=params
            )
        except HubSpotError as exc:
            if exc.status == 404:
                return None
            raise
        return record

    async def _modified(self, object_type: str, since_ms: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after: str | None = None
        while len(found) < MAX_RESULTS:
            body: dict[str, Any] = {
                "filterGroups": [
                    {"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": str(since_ms)}]}
                ],
                "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                "properties": self._properties(object_type),
                "limit": 100,
            }
            if after:
                body["after"] = after
            page = await self.client.request("POST", f"/crm/v3/objects/{object_type}/search", body)
            found += page.get("results", [])
            after = page.get("paging", {}).get("next", {}).get("after")
            if not after:
                break
        return found

    async def _archived_tasks(self, since_ms: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params = {"archived": "true", "limit": "100", "properties": ",".join(TASK_PROPERTIES)}
            if after:
                params["after"] = after
            page = await self.client.request("GET", "/crm/v3/objects/tasks", params=params)
            for task in page.get("results", []):
                archived_at = parse_time(task.get("archivedAt"))
                if archived_at is not None and _ms(archived_at) > since_ms:
                    found.append(task)
            after = page.get("paging", {}).get("next", {}).get("after")
            if not after:
                return found

    async def changes_since(self, cursor: str | None) -> ChangesPage:
        """Events from every task, engagement and company modified after ``cursor`` (epoch ms)
        less :data:`OVERLAP_MS`, and from tasks archived since; the next cursor is the newest
        modification seen."""
        try:
            last = int(cursor) if cursor else 0
        except ValueError:
            raise HubSpotError(
                400, "SAVES_CURSOR", f"cursor {cursor!r} is not epoch milliseconds", "GET", "-"
            ) from None
        since = max(last - OVERLAP_MS, 0)
        newest = last
        events: list[InboundEvent] = []
        for object_type in ("tasks", *TOUCHES, "companies"):
            for record in await self._modified(object_type, since):
                modified = parse_time(record["properties"].get("hs_lastmodifieddate"))
                newest = max(newest, _ms(modified)) if modified else newest
                events += await self.events_of(object_type, record)
        for task in await self._archived_tasks(since):
            archived_at = parse_time(task.get("archivedAt"))
            newest = max(newest, _ms(archived_at)) if archived_at else newest
            events += await self.events_of("tasks", task)
        events.sort(key=lambda e: (e.at, e.key))
        return ChangesPage(events=events, cursor=str(newest) if newest else cursor)


async def process_webhooks(inbound: HubSpotInbound, engine: AsyncEngine, limit: int = 500) -> list[InboundEvent]:
    """Turn recorded HubSpot webhook events into inbound events, reading each named object once.

    A webhook and the reconciler read the same object state, so they give an event the same key
    and a save hears a change once however it arrived. Rows are marked processed afterwards."""
    rows = await crm_inbox.pending(engine, "hubspot", limit)
    events: dict[str, InboundEvent] = {}
    seen: set[tuple[str, str, bool]] = set()
    for row in rows:
        deleted = row.change.endswith(".deletion")
        if (row.object_type, row.object_id, deleted) in seen:
            continue
        seen.add((row.object_type, row.object_id, deleted))
        record = await inbound.read_object(row.object_type, row.object_id, archived=deleted)
        if record is None:
            continue
        for event in await inbound.events_of(row.object_type, record):
            events.setdefault(event.key, event)
    await crm_inbox.mark_processed(engine, [row.id for row in rows], datetime.now(UTC))
    return sorted(events.values(), key=lambda e: (e.at, e.key))
