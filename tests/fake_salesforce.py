"""A local HTTP server that answers like Salesforce's REST API, for the resources the adapter uses.

It reproduces the documented shapes: the OAuth 2 token endpoint (client credentials and JWT bearer
grants, ``{"error", "error_description"}`` on failure); SOQL through ``query`` and ``queryAll``
(``totalSize`` / ``done`` / ``nextRecordsUrl`` / ``records`` with ``attributes``, relationship
fields as nested objects); sObject create (201 ``{"id", "success", "errors"}``), read, update (204)
and delete; ``composite`` (``compositeResponse`` with ``httpStatusCode`` and ``referenceId``) and
``composite/sobjects`` collections. Errors are Salesforce's JSON array of ``{"message",
"errorCode", "fields"}``: 401 ``INVALID_SESSION_ID``, 404 ``NOT_FOUND``, 400 ``INVALID_FIELD`` /
``MALFORMED_QUERY`` / ``DUPLICATE_VALUE`` (a unique external id taken, naming the record that has
it) / ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``, and 403 ``REQUEST_LIMIT_EXCEEDED`` when told to.
The SOQL subset is what the adapter sends: ``SELECT``, ``FROM``, ``WHERE`` with ``AND``, ``=``,
``!=``, ``<``, ``>``, ``<=``, ``>=``, ``IN``, ``ORDER BY`` and ``LIMIT``.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt

CLIENT_ID = "3MVG9-fake-consumer-key"
CLIENT_SECRET = "fake-consumer-secret"
VERSION = "v60.0"
PREFIX = {"Account": "001", "Contact": "003", "Task": "00T", "Event": "00U", "User": "005"}
UNIQUE = {"Task": ["Saves_Key__c"], "Account": ["Saves_Account_Id__c"]}
PICKLISTS = {("Task", "Status"): {"Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"}}
RELATIONS = {
    "Owner": "OwnerId",
    "LastModifiedBy": "LastModifiedById",
    "CreatedBy": "CreatedById",
    "Account": "AccountId",
    "What": "WhatId",
    "Who": "WhoId",
}
PAGE = 2000
OWNER_FIELDS = [
    "Saves_Cs_Manager__c",
    "Saves_Head_Of_Cs__c",
    "Saves_Executive_Sponsor__c",
    "Saves_Product_Manager__c",
    "Saves_Engineering__c",
    "Saves_Support__c",
    "Saves_Sales__c",
    "Saves_Sales_Engineer__c",
    "Saves_Finance__c",
]


class SfError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or []

    def body(self) -> list[dict[str, Any]]:
        return [{"message": self.message, "errorCode": self.code, "fields": self.fields}]


def stamp(moment: datetime) -> str:
    """Salesforce's datetime format in JSON: ``2027-03-01T09:30:00.000+0000``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("+0000", "+00:00").replace("Z", "+00:00"))


class FakeSalesforce:
    def __init__(self) -> None:
        self.records: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in PREFIX}
        self.fields: dict[str, set[str]] = {
            "Account": {
                "Id",
                "Name",
                "OwnerId",
                "AnnualRevenue",
                "Saves_Account_Id__c",
                "Saves_Tier__c",
                "Saves_ARR__c",
                "Saves_Renewal_Date__c",
                "Saves_Health__c",
                "Saves_Usage_Pct__c",
                "Saves_Risk_Status__c",
                *OWNER_FIELDS,
            },
            "Contact": {"Id", "AccountId", "FirstName", "LastName", "Name", "Email", "Saves_Primary__c", "OwnerId"},
            "Task": {
                "Id",
                "WhatId",
                "WhoId",
                "AccountId",
                "OwnerId",
                "Subject",
                "Description",
                "ActivityDate",
                "Status",
                "Priority",
                "IsClosed",
                "TaskSubtype",
                "Type",
                "CompletedDateTime",
                "Saves_Key__c",
                "Saves_Save_Id__c",
                "Saves_Kind__c",
                "Saves_Outcome__c",
            },
            "Event": {"Id", "WhatId", "WhoId", "AccountId", "OwnerId", "Subject", "StartDateTime", "EndDateTime"},
            "User": {"Id", "Name", "FirstName", "LastName", "Email", "IsActive", "Username"},
        }
        for fields in self.fields.values():
            fields |= {"CreatedDate", "LastModifiedDate", "CreatedById", "LastModifiedById", "IsDeleted"}
        self.requests: list[tuple[str, str, int]] = []
        self.tokens: dict[str, str] = {}  # live access token -> the user it acts as
        self.jwt_public_key: str | None = None
        """PEM of the certificate's key uploaded to the connected app (JWT bearer flow)."""
        self.limit_exceeded = 0  # the next this-many API requests get 403 REQUEST_LIMIT_EXCEEDED
        self.clock = datetime(2027, 3, 1, tzinfo=UTC)
        self.acting_user = ""
        self._ids = itertools.count(1)
        self._locators: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.url = ""
        self.integration_user = self.add("User", {"FirstName": "Saves", "LastName": "Integration", "Email": None})

    # --- seeding and inspection ------------------------------------------------------------

    def tick(self) -> datetime:
        """Every write happens a second after the last one: LastModifiedDate orders them."""
        self.clock += timedelta(seconds=1)
        return self.clock

    def add(self, sobject: str, fields: dict[str, Any], by: str | None = None) -> str:
        with self._lock:
            return self._create(sobject, fields, by or str(getattr(self, "integration_user", "")))

    def update(self, sobject: str, record_id: str, fields: dict[str, Any], by: str | None = None) -> None:
        """A change made in Salesforce's UI by user ``by``."""
        with self._lock:
            self._update(sobject, record_id, fields, by or self.integration_user)

    def delete(self, sobject: str, record_id: str, by: str | None = None) -> None:
        with self._lock:
            self._update(sobject, record_id, {}, by or self.integration_user)
            self._get(sobject, record_id)["IsDeleted"] = True

    def live(self, sobject: str) -> list[dict[str, Any]]:
        return [r for r in self.records[sobject].values() if not r["IsDeleted"]]

    def creates(self, sobject: str) -> int:
        return sum(1 for m, p, s in self.requests if m == "POST" and p.endswith(f"/sobjects/{sobject}") and s == 201)

    # --- records ---------------------------------------------------------------------------

    def _check_fields(self, sobject: str, fields: dict[str, Any]) -> None:
        for name, value in fields.items():
            if name not in self.fields[sobject]:
                raise SfError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}", [name])
            allowed = PICKLISTS.get((sobject, name))
            if allowed and value not in allowed:
                raise SfError(
                    400,
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{name}: bad value for restricted picklist field: {value}",
                    [name],
                )
            if name.endswith("Id") and name != "Id" and value and not self._find(str(value)):
                raise SfError(400, "MALFORMED_ID", f"{name}: id value of incorrect type: {value}", [name])

    def _find(self, record_id: str) -> dict[str, Any] | None:
        for records in self.records.values():
            if record_id in records:
                return records[record_id]
        return None

    def _unique(self, sobject: str, fields: dict[str, Any], own_id: str | None) -> None:
        for name in UNIQUE.get(sobject, []):
            value = fields.get(name)
            if value in (None, ""):
                continue
            for other in self.records[sobject].values():
                if other["Id"] != own_id and other.get(name) == value and not other["IsDeleted"]:
                    raise SfError(
                        400,
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {name} duplicates value on record with id: {other['Id']}",
                        [],
                    )

    def _create(self, sobject: str, fields: dict[str, Any], by: str) -> str:
        self._check_fields(sobject, fields)
        self._unique(sobject, fields, None)
        record_id = f"{PREFIX[sobject]}{next(self._ids):012d}AAA"[:18]
        now = stamp(self.tick())
        record: dict[str, Any] = dict.fromkeys(self.fields[sobject])
        record.update(fields)
        record.update(
            Id=record_id, CreatedDate=now, LastModifiedDate=now, CreatedById=by, LastModifiedById=by, IsDeleted=False
        )
        if sobject == "User":
            record["Name"] = " ".join(p for p in (fields.get("FirstName"), fields.get("LastName")) if p)
            record["IsActive"] = True
        if sobject == "Contact":
            record["Name"] = " ".join(p for p in (fields.get("FirstName"), fields.get("LastName")) if p)
        if sobject == "Task":
            record["Status"] = record["Status"] or "Not Started"
            self._task_derived(record)
        if sobject == "Event":
            self._account_of(record)
        self.records[sobject][record_id] = record
        return record_id

    def _task_derived(self, record: dict[str, Any]) -> None:
        record["IsClosed"] = record["Status"] == "Completed"
        if record["IsClosed"] and not record["CompletedDateTime"]:
            record["CompletedDateTime"] = record["LastModifiedDate"]
        if not record["IsClosed"]:
            record["CompletedDateTime"] = None
        self._account_of(record)

    def _account_of(self, record: dict[str, Any]) -> None:
        """An activity's AccountId: its WhatId when that is an Account, else its contact's account."""
        what = self._find(str(record.get("WhatId") or ""))
        who = self._find(str(record.get("WhoId") or ""))
        if what and what["Id"].startswith(PREFIX["Account"]):
            record["AccountId"] = what["Id"]
        elif who and who["Id"].startswith(PREFIX["Contact"]):
            record["AccountId"] = who["AccountId"]
        else:
            record["AccountId"] = None

    def _get(self, sobject: str, record_id: str) -> dict[str, Any]:
        record = self.records.get(sobject, {}).get(record_id)
        if record is None or record["IsDeleted"]:
            raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
        return record

    def _update(self, sobject: str, record_id: str, fields: dict[str, Any], by: str) -> None:
        record = self._get(sobject, record_id)
        self._check_fields(sobject, fields)
        self._unique(sobject, fields, record_id)
        record.update(fields)
        record["LastModifiedDate"] = stamp(self.tick())
        record["LastModifiedById"] = by
        if sobject == "Task":
            self._task_derived(record)

    # --- SOQL ------------------------------------------------------------------------------

    _QUERY = re.compile(
        r"^SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<sobject>\w+)"
        r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
        re.IGNORECASE | re.DOTALL,
    )
    _COND = re.compile(
        r"^\s*(?P<field>[\w.]+)\s*(?P<op>!=|<=|>=|=|<|>|\s+IN\s+|\s+NOT\s+IN\s+)\s*(?P<value>.+?)\s*$",
        re.IGNORECASE | re.DOTALL,
    )

    def _value(self, text: str) -> Any:
        text = text.strip()
        if text.startswith("'") and text.endswith("'"):
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if text.startswith("("):
            return [self._value(v) for v in re.findall(r"'(?:[^'\\]|\\.)*'|[^,()\s]+", text)]
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        if text.lower() == "null":
            return None
        if re.match(r"^\d{4}-\d\d-\d\dT", text):
            return _parse_time(text)
        try:
            return float(text)
        except ValueError:
            raise SfError(400, "MALFORMED_QUERY", f"unexpected token: '{text}'") from None

    def _field(self, sobject: str, record: dict[str, Any], path: str) -> Any:
        parts = path.split(".")
        if len(parts) == 1:
            if path not in self.fields[sobject]:
                raise SfError(400, "INVALID_FIELD", f"No such column '{path}' on entity '{sobject}'")
            return record.get(path)
        relation, rest = parts[0], ".".join(parts[1:])
        key = RELATIONS.get(relation) or (relation[:-3] + "__c" if relation.endswith("__r") else None)
        if key is None or key not in self.fields[sobject]:
            raise SfError(400, "INVALID_FIELD", f"Didn't understand relationship '{relation}' in field path")
        target = self._find(str(record.get(key) or ""))
        if target is None:
            return None
        target_type = next(t for t, recs in self.records.items() if target["Id"] in recs)
        return self._field(target_type, target, rest)

    @staticmethod
    def _compare(left: Any, op: str, right: Any) -> bool:
        op = " ".join(op.split()).upper()
        if isinstance(right, datetime) and isinstance(left, str):
            left = _parse_time(left)
        if op == "IN":
            return left in right
        if op == "NOT IN":
            return left not in right
        if op == "=":
            return bool(left == right)
        if op == "!=":
            return bool(left != right)
        if left is None or right is None:
            return False
        return bool({"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op])

    def _sort_key(self, sobject: str, name: str, row: dict[str, Any]) -> tuple[bool, str]:
        value = self._field(sobject, row, name)
        return (value is None, str(value))

    def query(self, soql: str, deleted: bool) -> dict[str, Any]:
        match = self._QUERY.match(soql.strip())
        if not match:
            raise SfError(400, "MALFORMED_QUERY", f"unexpected token in: {soql[:80]}")
        sobject = match["sobject"]
        if sobject not in self.records:
            raise SfError(400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
        fields = [f.strip() for f in match["fields"].split(",")]
        conditions = []
        for part in re.split(r"\s+AND\s+", match["where"] or "", flags=re.IGNORECASE):
            if not part.strip():
                continue
            cond = self._COND.match(part)
            if not cond:
                raise SfError(400, "MALFORMED_QUERY", f"unexpected token: '{part.strip()}'")
            conditions.append((cond["field"], cond["op"], self._value(cond["value"])))
        rows = [
            r
            for r in self.records[sobject].values()
            if (deleted or not r["IsDeleted"])
            and all(self._compare(self._field(sobject, r, f), o, v) for f, o, v in conditions)
        ]
        for clause in reversed([c.strip() for c in (match["order"] or "").split(",") if c.strip()]):
            name, *direction = clause.split()
            descending = bool(direction) and direction[0].upper() == "DESC"
            rows.sort(key=partial(self._sort_key, sobject, name), reverse=descending)
        if match["limit"]:
            rows = rows[: int(match["limit"])]
        shaped = [self._shape(sobject, r, fields) for r in rows]
        return self._page(shaped, 0)

    def _shape(self, sobject: str, record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attributes": {"type": sobject, "url": f"/services/data/{VERSION}/sobjects/{sobject}/{record['Id']}"}
        }
        for path in fields:
            parts = path.split(".")
            value = self._field(sobject, record, path)
            if len(parts) == 1:
                out[path] = value
                continue
            key = parts[0][:-3] + "__c" if parts[0].endswith("__r") else RELATIONS[parts[0]]
            target = self._find(str(record.get(key) or ""))
            if target is None:
                out[parts[0]] = None
                continue
            target_type = next(t for t, recs in self.records.items() if target["Id"] in recs)
            out.setdefault(parts[0], {"attributes": {"type": target_type}})[parts[1]] = value
        return out

    def _page(self, rows: list[dict[str, Any]], start: int) -> dict[str, Any]:
        answer: dict[str, Any] = {"totalSize": len(rows), "done": True, "records": rows[start : start + PAGE]}
        if start + PAGE < len(rows):
            locator = f"01gFAKE{len(self._locators)}-{start + PAGE}"
            self._locators[locator] = rows
            answer["done"] = False
            answer["nextRecordsUrl"] = f"/services/data/{VERSION}/query/{locator}"
        return answer

    # --- the API ---------------------------------------------------------------------------

    def token(self, form: dict[str, str]) -> tuple[int, Any]:
        grant = form.get("grant_type")
        acting = self.integration_user
        if grant == "client_credentials":
            if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
                return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            try:
                claims = jwt.decode(
                    form.get("assertion", ""),
                    self.jwt_public_key or "",
                    algorithms=["RS256"],
                    audience="https://login.salesforce.com",
                    options={"require": ["iss", "sub", "aud", "exp"]},
                )
            except (jwt.PyJWTError, ValueError) as exc:
                return 400, {"error": "invalid_grant", "error_description": f"invalid assertion: {exc}"}
            user = next((u for u in self.live("User") if u.get("Username") == claims["sub"]), None)
            if claims["iss"] != CLIENT_ID or user is None:
                return 400, {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}
            acting = user["Id"]
        else:
            return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
        access = f"00DFAKE!token{len(self.tokens) + 1}"
        self.tokens[access] = acting
        return 200, {
            "access_token": access,
            "instance_url": self.url,
            "id": f"{self.url}/id/00DFAKE/{acting}",
            "token_type": "Bearer",
            "issued_at": str(int(self.clock.timestamp() * 1000)),
            "signature": "fake",
        }

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def handle(self, method: str, path: str, query: dict[str, str], body: Any, auth: str | None) -> tuple[int, Any]:
        token = (auth or "").removeprefix("Bearer ")
        if token not in self.tokens:
            raise SfError(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if self.limit_exceeded:
            self.limit_exceeded -= 1
            raise SfError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        return self._dispatch(method, path, query, body, self.tokens[token])

    def _dispatch(self, method: str, path: str, query: dict[str, str], body: Any, by: str) -> tuple[int, Any]:
        base = f"/services/data/{VERSION}/"
        if not path.startswith(base):
            raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
        parts = path[len(base) :].strip("/").split("/")
        if parts[0] in ("query", "queryAll") and method == "GET":
            if len(parts) == 2:
                locator = parts[1]
                rows = self._locators.get(locator)
                if rows is None:
                    raise SfError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
                return 200, self._page(rows, int(locator.rsplit("-", 1)[1]))
            if "q" not in query:
                raise SfError(400, "MALFORMED_QUERY", "A query string has to be specified")
            return 200, self.query(query["q"], deleted=parts[0] == "queryAll")
        if parts[0] == "composite" and len(parts) == 1 and method == "POST":
            return 200, self._composite(body, by)
        if parts[:2] == ["composite", "sobjects"] and method == "PATCH":
            return 200, self._collection_update(body, by)
        if parts[0] == "sobjects" and len(parts) >= 2:
            return self._sobject(method, parts[1:], body, by)
        raise SfError(404, "NOT_FOUND", "The requested resource does not exist")

    def _sobject(self, method: str, parts: list[str], body: Any, by: str) -> tuple[int, Any]:
        sobject = parts[0]
        if sobject not in self.records:
            raise SfError(404, "NOT_FOUND", f"The requested resource does not exist: {sobject}")
        if len(parts) == 1 and method == "POST":
            if not isinstance(body, dict):
                raise SfError(400, "JSON_PARSER_ERROR", "Expected an object")
            record_id = self._create(sobject, {k: v for k, v in body.items() if k != "attributes"}, by)
            return 201, {"id": record_id, "success": True, "errors": []}
        if len(parts) == 2 and method == "GET":
            record = self._get(sobject, parts[1])
            return 200, {"attributes": {"type": sobject}, **record}
        if len(parts) == 2 and method == "PATCH":
            self._update(sobject, parts[1], {k: v for k, v in body.items() if k != "attributes"}, by)
            return 204, None
        if len(parts) == 2 and method == "DELETE":
            self._update(sobject, parts[1], {}, by)
            self._get(sobject, parts[1])["IsDeleted"] = True
            return 204, None
        raise SfError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed")

    def _collection_update(self, body: dict[str, Any], by: str) -> list[dict[str, Any]]:
        records = body.get("records") or []
        if len(records) > 200:
            raise SfError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records")
        results = []
        for record in records:
            fields = {k: v for k, v in record.items() if k not in ("attributes", "id", "Id")}
            try:
                self._update(record["attributes"]["type"], record.get("id") or record["Id"], fields, by)
                results.append({"id": record.get("id") or record.get("Id"), "success": True, "errors": []})
            except SfError as exc:
                results.append(
                    {
                        "success": False,
                        "errors": [{"statusCode": exc.code, "message": exc.message, "fields": exc.fields}],
                    }
                )
        return results

    def _composite(self, body: dict[str, Any], by: str) -> dict[str, Any]:
        requests = body.get("compositeRequest") or []
        if len(requests) > 25:
            raise SfError(400, "INVALID_FIELD", "composite request limit: 25 subrequests")
        refs: dict[str, Any] = {}
        out = []
        for sub in requests:
            url = re.sub(r"@\{(\w+)\.(\w+)\}", lambda m: str(refs.get(m[1], {}).get(m[2], "")), sub["url"])
            split = urlsplit(url)
            params = {k: v[0] for k, v in parse_qs(split.query).items()}
            try:
                status, answer = self._dispatch(sub["method"], unquote(split.path), params, sub.get("body"), by)
            except SfError as exc:
                status, answer = exc.status, exc.body()
            except KeyError:
                status, answer = 400, [{"message": "bad subrequest", "errorCode": "JSON_PARSER_ERROR", "fields": []}]
            if isinstance(answer, dict):
                refs[sub["referenceId"]] = answer
            out.append({"body": answer, "httpHeaders": {}, "httpStatusCode": status, "referenceId": sub["referenceId"]})
        return {"compositeResponse": out}


def _handler(fake: FakeSalesforce) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            split = urlsplit(self.path)
            path = unquote(split.path)
            query = {k: v[0] for k, v in parse_qs(split.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                with fake._lock:
                    if path == "/services/oauth2/token" and self.command == "POST":
                        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                        status, answer = fake.token(form)
                    else:
                        try:
                            body = json.loads(raw) if raw else None
                        except json.JSONDecodeError as exc:
                            raise SfError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None
                        auth = self.headers.get("Authorization")
                        status, answer = fake.handle(self.command, path, query, body, auth)
            except SfError as exc:
                status, answer = exc.status, exc.body()
            fake.requests.append((self.command, path, status))
            data = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

    return Handler


@contextmanager
def running() -> Iterator[FakeSalesforce]:
    fake = FakeSalesforce()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
