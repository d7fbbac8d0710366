"""A local HTTP server that answers like HubSpot's CRM v3 API, for the endpoints the adapter uses.

It reproduces the documented request and response shapes (records with ``id`` / ``properties`` /
``createdAt``; search with ``filterGroups`` and ``after`` paging; batch read and update; v3
association listing; owners) and the error answers: 401 without the token, 404 for a missing
record, 400 for a bad request, 409 for a taken unique value, and 429 with ``Retry-After`` when
told to throttle. Everything is in memory; ``requests`` records what was asked.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

TOKEN = "pat-test-token"
UNIQUE = {"tasks": "saves_key", "notes": "saves_key"}
NEEDS_TIMESTAMP = {"tasks", "notes", "calls", "meetings", "emails"}
SINGULAR = {
    "companies": "company",
    "contacts": "contact",
    "tasks": "task",
    "notes": "note",
    "calls": "call",
    "meetings": "meeting",
    "emails": "email",
}
OPERATORS = {"EQ", "NEQ", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "GT", "GTE", "LT", "LTE"}


class ApiError(Exception):
    def __init__(self, status: int, category: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.category, self.message = status, category, message
        self.headers = headers or {}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch_ms(value: str) -> float:
    """A HubSpot datetime property (ISO 8601 or milliseconds) as milliseconds since the epoch."""
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000


class FakeHubSpot:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in SINGULAR}
        self.associations: list[tuple[str, str, str, str, int]] = []  # from type, id, to type, id, type id
        self.owners: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.throttled: list[str] = []  # Retry-After values of the next 429 answers
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self.url = ""
        self.clock: datetime | None = None
        """When set (tests that read changes back), the fake's clock: each write a second after the last."""

    def _now(self) -> str:
        if self.clock is None:
            return _now()
        self.clock += timedelta(seconds=1)
        return self.clock.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    # --- seeding and inspection ------------------------------------------------------------

    def add(self, object_type: str, properties: dict[str, Any]) -> str:
        with self._lock:
            return str(self._create(object_type, {"properties": properties})["id"])

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int = 0) -> None:
        with self._lock:
            self.associations.append((from_type, from_id, to_type, to_id, type_id))

    def add_owner(self, owner_id: str, first: str, last: str, email: str) -> None:
        self.owners[owner_id] = {
            "id": owner_id,
            "email": email,
            "firstName": first,
            "lastName": last,
            "userId": int(owner_id),
            "createdAt": self._now(),
            "updatedAt": self._now(),
            "archived": False,
        }

    def throttle(self, *retry_after: str) -> None:
        """The next requests get a 429, one per value, each with that ``Retry-After``."""
        self.throttled.extend(retry_after)

    def ui_update(self, object_type: str, record_id: str, properties: dict[str, Any], user_id: int) -> None:
        """A change a HubSpot user made in HubSpot's UI (``hs_updated_by_user_id`` is theirs)."""
        with self._lock:
            self._update(object_type, record_id, properties)
            self.objects[object_type][record_id]["properties"]["hs_updated_by_user_id"] = str(user_id)

    def archive(self, object_type: str, record_id: str) -> None:
        """A record deleted in HubSpot's UI: archived, still listed with ``archived=true``."""
        with self._lock:
            record = self._get(object_type, record_id)
            record["archived"] = True
            record["archivedAt"] = self._now()

    def records(self, object_type: str) -> list[dict[str, Any]]:
        return [r for r in self.objects[object_type].values() if not r["archived"]]

    def associated(self, from_type: str, from_id: str, to_type: str) -> list[tuple[str, int]]:
        return [
            (t_id, type_id)
            for f_type, f_id, t_type, t_id, type_id in self.associations
            if (f_type, f_id, t_type) == (from_type, from_id, to_type)
        ]

    def creates(self, object_type: str) -> int:
        return sum(1 for m, p, s in self.requests if m == "POST" and p == f"/crm/v3/objects/{object_type}" and s == 201)

    # --- the API ---------------------------------------------------------------------------

    def _create(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        properties = {k: None if v is None else str(v) for k, v in (body.get("properties") or {}).items()}
        if object_type in NEEDS_TIMESTAMP and not properties.get("hs_timestamp"):
            raise ApiError(400, "VALIDATION_ERROR", "Property values were not valid: hs_timestamp is required")
        unique = UNIQUE.get(object_type)
        if unique and properties.get(unique):
            for record in self.objects[object_type].values():
                if record["properties"].get(unique) == properties[unique]:
                    raise ApiError(
                        409,
                        "CONFLICT",
                        f"A {SINGULAR[object_type]} with {unique}="
                        f"{properties[unique]} exists already. Existing ID: {record['id']}",
                    )
        record_id = str(next(self._ids))
        stamp = self._now()
        record = {
            "id": record_id,
            "properties": {**properties, "hs_object_id": record_id, "createdate": stamp, "hs_lastmodifieddate": stamp},
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
        }
        self.objects[object_type][record_id] = record
        for link in body.get("associations") or []:
            to_id = str(link["to"]["id"])
            to_type = next((t for t, recs in self.objects.items() if to_id in recs), None)
            if to_type is None:
                raise ApiError(400, "VALIDATION_ERROR", f"association target {to_id} does not exist")
            type_id = int(link["types"][0]["associationTypeId"])
            self.associations.append((object_type, record_id, to_type, to_id, type_id))
            self.associations.append((to_type, to_id, object_type, record_id, 0))
        return record

    def _get(self, object_type: str, record_id: str, archived: bool = False) -> dict[str, Any]:
        record = self.objects.get(object_type, {}).get(record_id)
        if record is None or (record["archived"] and not archived):
            raise ApiError(404, "OBJECT_NOT_FOUND", "resource not found")
        return record

    def _update(self, object_type: str, record_id: str, properties: dict[str, Any]) -> dict[str, Any]:
        record = self._get(object_type, record_id)
        record["properties"].update({k: None if v is None else str(v) for k, v in properties.items()})
        record["properties"]["hs_updated_by_user_id"] = None
        record["updatedAt"] = record["properties"]["hs_lastmodifieddate"] = self._now()
        return record

    @staticmethod
    def _matches(record: dict[str, Any], flt: dict[str, Any]) -> bool:
        op = flt.get("operator")
        if op not in OPERATORS:
            raise ApiError(400, "VALIDATION_ERROR", f"unknown filter operator {op!r}")
        value = record["properties"].get(flt["propertyName"])
        if op == "EQ":
            return value is not None and value.lower() == str(flt["value"]).lower()
        if op == "NEQ":
            return value is None or value.lower() != str(flt["value"]).lower()
        if op in ("IN", "NOT_IN"):
            inside = value is not None and value.lower() in {str(v).lower() for v in flt["values"]}
            return inside if op == "IN" else not inside
        if op == "HAS_PROPERTY":
            return value not in (None, "")
        if op == "NOT_HAS_PROPERTY":
            return value in (None, "")
        if value in (None, ""):
            return False
        number, bound = _epoch_ms(value), _epoch_ms(str(flt["value"]))
        return {"GT": number > bound, "GTE": number >= bound, "LT": number < bound, "LTE": number <= bound}[op]

    def _search(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        limit = int(body.get("limit", 10))
        if not 0 < limit <= 200:
            raise ApiError(400, "VALIDATION_ERROR", "limit must be between 1 and 200")
        groups = body.get("filterGroups") or []
        if len(groups) > 5 or sum(len(g.get("filters", [])) for g in groups) > 18:
            raise ApiError(400, "VALIDATION_ERROR", "too many filters")
        hits = [
            r
            for r in self.objects[object_type].values()
            if not r["archived"]
            and (not groups or any(all(self._matches(r, f) for f in g.get("filters", [])) for g in groups))
        ]
        hits.sort(key=lambda r: int(r["id"]))
        for sort in reversed(body.get("sorts") or []):
            name: str = sort["propertyName"]

            def sort_key(record: dict[str, Any], prop: str = name) -> float:
                return _epoch_ms(record["properties"].get(prop) or "0")

            hits.sort(key=sort_key, reverse=sort.get("direction") == "DESCENDING")
        start = int(body.get("after") or 0)
        page = hits[start : start + limit]
        wanted = body.get("properties") or []
        answer: dict[str, Any] = {"total": len(hits), "results": [self._shaped(r, wanted) for r in page]}
        if start + limit < len(hits):
            answer["paging"] = {"next": {"after": str(start + limit)}}
        return answer

    @staticmethod
    def _shaped(record: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
        keep = {"hs_object_id", "createdate", "hs_lastmodifieddate", *wanted}
        return {**record, "properties": {k: record["properties"].get(k) for k in keep}}

    def handle(
        self, method: str, path: str, body: dict[str, Any], auth: str | None, query: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        query = query or {}
        if self.throttled:
            raise ApiError(
                429, "RATE_LIMITS", "You have reached your secondly limit.", {"Retry-After": self.throttled.pop(0)}
            )
        if auth != f"Bearer {TOKEN}":
            raise ApiError(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
        parts = path.strip("/").split("/")
        if parts[:3] == ["crm", "v3", "owners"] and len(parts) == 4 and method == "GET":
            if query.get("idProperty") == "userId":
                found = [o for o in self.owners.values() if str(o["userId"]) == parts[3]]
                if not found:
                    raise ApiError(404, "OBJECT_NOT_FOUND", "resource not found")
                return 200, found[0]
            if parts[3] not in self.owners:
                raise ApiError(404, "OBJECT_NOT_FOUND", "resource not found")
            return 200, self.owners[parts[3]]
        if parts[:3] != ["crm", "v3", "objects"] or len(parts) < 4 or parts[3] not in self.objects:
            raise ApiError(404, "OBJECT_NOT_FOUND", f"no such endpoint {path}")
        object_type, rest = parts[3], parts[4:]
        archived = query.get("archived") == "true"
        if method == "GET" and rest == []:
            wanted = [p for p in query.get("properties", "").split(",") if p]
            listed = [r for r in self.objects[object_type].values() if r["archived"] == archived]
            listed.sort(key=lambda r: int(r["id"]))
            start, limit = int(query.get("after") or 0), int(query.get("limit") or 10)
            answer: dict[str, Any] = {"results": [self._shaped(r, wanted) for r in listed[start : start + limit]]}
            if start + limit < len(listed):
                answer["paging"] = {"next": {"after": str(start + limit)}}
            return 200, answer
        if method == "POST" and rest == []:
            return 201, self._create(object_type, body)
        if method == "POST" and rest == ["search"]:
            return 200, self._search(object_type, body)
        if method == "POST" and rest == ["batch", "read"]:
            wanted = body.get("properties") or []
            found = [
                self._shaped(self.objects[object_type][str(i["id"])], wanted)
                for i in body.get("inputs", [])
                if str(i["id"]) in self.objects[object_type]
            ]
            return 200, {"status": "COMPLETE", "results": found, "startedAt": self._now(), "completedAt": self._now()}
        if method == "POST" and rest == ["batch", "update"]:
            if len(body.get("inputs", [])) > 100:
                raise ApiError(400, "VALIDATION_ERROR", "at most 100 inputs per batch")
            done = [self._update(object_type, str(i["id"]), i.get("properties", {})) for i in body["inputs"]]
            return 200, {"status": "COMPLETE", "results": done, "startedAt": self._now(), "completedAt": self._now()}
        if len(rest) == 1 and method == "GET":
            wanted = [p for p in query.get("properties", "").split(",") if p]
            record = self._get(object_type, rest[0], archived=archived)
            return 200, self._shaped(record, wanted) if wanted else record
        if len(rest) == 1 and method == "PATCH":
            return 200, self._update(object_type, rest[0], body.get("properties", {}))
        if len(rest) == 3 and rest[1] == "associations" and method == "GET":
            self._get(object_type, rest[0])
            kind = f"{SINGULAR[object_type]}_to_{SINGULAR.get(rest[2], rest[2])}"
            return 200, {
                "results": [{"id": i, "type": kind} for i, _ in self.associated(object_type, rest[0], rest[2])]
            }
        raise ApiError(404, "OBJECT_NOT_FOUND", f"no such endpoint {method} {path}")


def _handler(fake: FakeHubSpot) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            path, _, raw_query = self.path.partition("?")
            query = {k: v[0] for k, v in parse_qs(raw_query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers: dict[str, str] = {}
            try:
                try:
                    body = json.loads(raw) if raw else {}
                except json.JSONDecodeError as exc:
                    raise ApiError(400, "VALIDATION_ERROR", f"Invalid input JSON: {exc}") from None
                with fake._lock:
                    status, answer = fake.handle(self.command, path, body, self.headers.get("Authorization"), query)
            except ApiError as exc:
                status, headers = exc.status, exc.headers
                answer = {
                    "status": "error",
                    "message": exc.message,
                    "category": exc.category,
                    "correlationId": f"fake-{len(fake.requests)}",
                }
            except (KeyError, TypeError, ValueError) as exc:
                status = 400
                answer = {
                    "status": "error",
                    "message": f"Invalid input: {exc!r}",
                    "category": "VALIDATION_ERROR",
                    "correlationId": "fake",
                }
            fake.requests.append((self.command, path, status))
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

    return Handler


@contextmanager
def running() -> Iterator[FakeHubSpot]:
    fake = FakeHubSpot()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
