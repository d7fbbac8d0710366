"""No input produces a 5xx: generated requests (signed, so they reach the endpoints) against the
real app, worker and store. Each answer is a 2xx or a 4xx with the JSON error shape."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playbook_defs.vocabulary import CancellationReason, OutcomeKind, OwnerRole, TriggerKind
from tests import fuzz_requests
from tests.api_client import SignedClient, api_client
from tests.harness import Harness

edge_strings = st.sampled_from(["\ud800", "a\udfff", "1000000000000d", "2030-01-01T00:00:00", "x" * 70_000, "\r\n"])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30), edge_strings, st.just(2**64)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
accounts = st.sampled_from(["bluepeak", "northwind", "nobody", "bad id", "", "x" * 200]) | st.text(max_size=20)
kinds = st.sampled_from([k.value for k in TriggerKind]) | st.text(max_size=15) | json_values
reasons = st.sampled_from([r.value for r in CancellationReason]) | json_values
when = st.datetimes().map(lambda d: d.isoformat()) | st.text(max_size=25)
triggers = st.fixed_dictionaries(
    {"account_id": accounts, "kind": kinds},
    optional={
        "event_id": st.text(max_size=140) | json_values,
        "reason": reasons,
        "playbook": st.sampled_from(["budget", "value_roi", "nope"]) | json_values,
        "source": st.text(max_size=220),
        "note": st.text(max_size=50),
        "signals": st.dictionaries(st.text(max_size=110), json_values, max_size=5) | json_values,
        "rule": st.text(max_size=30),
        "rule_version": st.text(max_size=70),
        "observed_at": when,
        "reported_by": json_values,
        "unexpected": json_values,
    },
)
actions = st.fixed_dictionaries(
    {},
    optional={
        "by": st.text(max_size=30) | json_values,
        "note": st.text(max_size=30),
        "approved": json_values,
        "what": st.text(max_size=30),
        "owner": st.sampled_from([r.value for r in OwnerRole]) | json_values,
        "due_in": st.sampled_from(["7d", "0d", "-1d", "2w", "soon", "99999999999d", "1000000000000d"]) | json_values,
        "due_at": when,
        "discount_pct": json_values,
        "whys": st.lists(st.text(max_size=20), max_size=7) | json_values,
        "category": st.sampled_from(["product", "value", "other"]) | json_values,
        "summary": st.text(max_size=20),
        "role": st.sampled_from([r.value for r in OwnerRole]) | json_values,
        "kind": st.sampled_from([k.value for k in OutcomeKind]) | json_values,
        "reason": st.text(max_size=20),
        "arr_retained": json_values,
        "criteria_met": json_values,
        "owner_id": st.text(max_size=20),
        "name": st.text(max_size=20),
        "email": st.text(max_size=20),
    },
)
item = st.sampled_from(["c1", "root_cause", "discovery_call", "nope"]) | st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz_-.0123456789", min_size=1, max_size=12
)
account_path = st.sampled_from(["northwind", "bluepeak", "nobody"])
requests = st.one_of(
    st.tuples(st.just("/triggers"), triggers),
    st.tuples(st.just("/triggers"), json_values),
    st.tuples(st.just("/triggers"), st.binary(max_size=64)),
    st.tuples(st.builds(lambda a, i: f"/saves/{a}/tasks/{i}/complete", account_path, item), actions),
    st.tuples(st.builds(lambda a: f"/saves/{a}/commitments", account_path), actions),
    st.tuples(st.builds(lambda a, i: f"/saves/{a}/commitments/{i}/fulfil", account_path, item), actions),
    st.tuples(st.builds(lambda a: f"/saves/{a}/root-cause", account_path), actions),
    st.tuples(st.builds(lambda a: f"/saves/{a}/help", account_path), actions),
    st.tuples(st.builds(lambda a: f"/saves/{a}/owner", account_path), actions),
    st.tuples(st.builds(lambda a: f"/saves/{a}/outcome", account_path), actions),
    st.tuples(
        st.builds(lambda a: f"/saves/{a}/triage", account_path),
        st.fixed_dictionaries(
            {},
            optional={
                "zone": st.sampled_from(["red_zone", "dead_zone", "grey"]) | json_values,
                "strategy": st.sampled_from(["rescue", "recover", "farewell"]) | json_values,
                "reason": st.text(max_size=20) | json_values,
                "by": st.text(max_size=20) | json_values,
            },
        ),
    ),
)


async def _send(api: SignedClient, path: str, body: Any) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await api.post(path, raw=raw)
    assert response.status_code < 500, (path, body, response.status_code, response.text)
    if response.status_code >= 400:
        error = response.json()
        assert error["error"] and error["message"], error


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(requests, min_size=1, max_size=3))
async def test_no_generated_request_gets_a_5xx(harness: Harness, batch: list[tuple[str, Any]]) -> None:
    if not getattr(harness, "_fuzz_ready", False):  # one running save to act on, for every example
        await harness.start("northwind", playbook="product_issue")
        harness._fuzz_ready = True  # type: ignore[attr-defined]
    async with api_client(harness) as api:
        for path, body in batch:
            await _send(api, path, body)


async def test_signed_requests_with_edge_values_in_every_field_get_no_5xx(harness: Harness) -> None:
    """A sample of ``scripts/fuzz_api.py`` (which sends 2,000): every route, one field at a time set
    to NaN, +-inf, 1e999, a lone surrogate, a 10^12-day duration, a naive datetime, a 1 MB string,
    JSON nested 1,000 deep."""
    await harness.start("northwind", playbook="product_issue")
    async with api_client(harness, max_body=2 * 1024 * 1024) as api:
        tally = await fuzz_requests.run(api, 200, seed=1)
    assert tally.total >= 200 and tally.server_errors == [], tally.server_errors[:5]
    assert len(tally.routes) >= 10  # every POST route and the reads
    assert sum(n for code, n in tally.statuses.items() if 200 <= code < 300) > 0
