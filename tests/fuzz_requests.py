"""Signed requests to every API route, valid ones and ones with one field set to an edge value.

Shared by ``tests/test_api_fuzz.py`` (a sample in the suite) and ``scripts/fuzz_api.py`` (the
full run, 2,000 requests or more). Every answer must be a 2xx or a 4xx with the JSON error
shape; a 5xx is a failure.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.api_client import SignedClient


@dataclass(frozen=True)
class RawJson:
    """A JSON token Python's encoder cannot produce (``1e999``, ``-1e999``, 1,000-deep nesting)."""

    text: str


ACCOUNTS = ["northwind", "bluepeak", "harborline", "nobody"]
NESTED = "[" * 1000 + "]" * 1000
EDGES: list[Any] = [
    float("nan"),
    float("inf"),
    float("-inf"),
    RawJson("1e999"),
    RawJson("-1e999"),
    RawJson(NESTED),
    RawJson("1" + "0" * 5000),
    "\ud800",
    "ok \udfff",
    "1000000000000d",
    "99999999999d",
    "999999999d",
    "2030-01-01T00:00:00",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "x" * 1_000_000,
    -1,
    0,
    2**63,
    10**40,
    "",
    True,
    [],
    {},
    "line\r\nBcc: attacker@evil.example",
    "Zoë, attacker@evil.example",
    "\x00",
]


def encode(value: Any) -> str:
    """JSON with :class:`RawJson` tokens written as they are (and NaN/Infinity as Python writes them)."""
    if isinstance(value, RawJson):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return json.dumps(value)


TRIGGER = {
    "event_id": "evt",
    "account_id": "bluepeak",
    "kind": "low_usage",
    "reason": "product",
    "playbook": "value_roi",
    "source": "salesforce",
    "note": "usage fell",
    "signals": {"usage_pct": 31},
    "rule": "usage_below_50pct",
    "rule_version": "3",
    "observed_at": "2026-11-28T09:00:00Z",
    "reported_by": "crm",
}
ACTIONS: dict[str, dict[str, Any]] = {
    "tasks/{item}/complete": {"by": "Sam", "note": "done", "approved": True},
    "commitments": {"what": "Weekly call", "owner": "csm", "due_in": "7d", "discount_pct": 5, "by": "Sam"},
    "commitments/{item}/fulfil": {"by": "Sam", "note": "done"},
    "root-cause": {"whys": ["a", "b"], "category": "product", "summary": "x", "by": "Sam"},
    "help": {"role": "support", "what": "Own their queue", "by": "Sam"},
    "owner": {"owner_id": "u-aisha", "name": "Aisha Khan", "email": "aisha@ourco.example.com", "reason": "fit"},
    "outcome": {"kind": "partially_saved", "reason": "downgrade", "arr_retained": 1000.0, "criteria_met": []},
    "triage": {"zone": "red_zone", "strategy": "recover", "reason": "shared effort", "by": "Dana"},
    "attention/{item}/retry": {"by": "Olga", "reason": "relay fixed"},
    "attention/{item}/skip": {"by": "Olga", "reason": "told them by phone"},
}
EXTRA_FIELDS = {"commitments": {"due_at": "2099-01-01T00:00:00Z"}, "triggers": {}}
ITEMS = ["c1", "discovery_call", "root_cause", "a1", "nope"]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes
    label: str


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


def _route_template(path: str) -> str:
    parts = path.split("/")
    if len(parts) >= 3 and parts[1] == "saves":
        parts[2] = "{account}"
        if len(parts) >= 5 and parts[3] in ("tasks", "commitments", "attention") and len(parts) == 6:
            parts[4] = "{item}"
    return "/".join(parts)


def requests(count: int, seed: int = 0) -> Iterator[Request]:
    """``count`` requests: every route in turn, valid bodies, then one field at a time set to each
    edge value, then random mixes."""
    rng = random.Random(seed)
    bodies: list[tuple[str, str, dict[str, Any]]] = [("POST", "/triggers", TRIGGER)]
    for route, fields in ACTIONS.items():
        bodies.append(("POST", "/saves/{account}/" + route, {**fields, **EXTRA_FIELDS.get(route, {})}))
    n = 0
    while n < count:
        method, template, base = bodies[n % len(bodies)]
        account = rng.choice(ACCOUNTS)
        path = template.replace("{account}", account).replace("{item}", rng.choice(ITEMS))
        body: dict[str, Any] = {**base}
        if "event_id" in body:
            body["event_id"] = f"fuzz-{seed}-{n}"
        mode = rng.random()
        if mode < 0.6:  # field by field: one field set to one edge value
            name = rng.choice(sorted(body))
            body[name] = rng.choice(EDGES)
            label = f"{name}=edge"
        elif mode < 0.7:  # an edge value inside a nested field
            body["signals" if "signals" in body else "extra"] = {"v": rng.choice(EDGES)}
            label = "nested edge"
        elif mode < 0.8:
            name = rng.choice(sorted(body))
            del body[name]
            label = f"without {name}"
        elif mode < 0.85:
            yield Request("POST", path, encode(rng.choice(EDGES)).encode(), "edge as the whole body")
            n += 1
            continue
        else:
            label = "valid"
        yield Request(method, path, encode(body).encode(), label)
        n += 1
        if n % 25 == 0 and n < count:  # the read routes too
            # Listing needs Temporal's visibility API, which the time-skipping server lacks: only
            # queries the API refuses itself are sent to /saves.
            reads = [f"/saves/{account}", "/saves?stage=nope", "/saves?limit=100000", "/saves?owner=a%0Db"]
            yield Request("GET", rng.choice(reads), b"", "read")
            n += 1


async def run(api: SignedClient, count: int, seed: int = 0) -> Tally:
    tally = Tally()
    for request in requests(count, seed):
        response = await api.request(request.method, request.path, raw=request.body)
        tally.statuses[response.status_code] += 1
        tally.routes[f"{request.method} {_route_template(request.path.split('?')[0])}"] += 1
        ok_shape = True
        if response.status_code >= 400:
            try:
                error = response.json()
                ok_shape = bool(error.get("error")) and bool(error.get("message"))
            except ValueError:
                ok_shape = False
        if response.status_code >= 500 or not ok_shape:
            tally.server_errors.append(
                f"{response.status_code} {request.method} {request.path} [{request.label}] "
                f"{request.body[:200]!r}: {response.text[:300]}"
            )
    return tally
