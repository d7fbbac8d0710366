"""Bad values are refused where they enter the API (422 naming the field), before any Temporal
call; a signed request acts once; an immediate redelivery gets the first answer."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send
from temporalio.service import RPCError

from tests.api_client import SECRET, SignedClient, api_client
from tests.harness import Harness
from worker.api.app import create_app
from worker.api.signature import Request, sign

TRIGGER = '{"account_id":"bluepeak","kind":"low_usage","signals":{"usage_pct":%s}}'


async def _no_save(harness: Harness, account: str) -> bool:
    try:
        await harness.handle(account).describe()
    except RPCError:
        return True
    return False


def _field(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] and body["message"], body
    return str(body["fields"][0]["field"]) if body.get("fields") else ""


@pytest.mark.parametrize("number", ["1e999", "-1e999", "NaN", "Infinity", "-Infinity"])
async def test_a_trigger_with_a_number_json_cannot_carry_starts_nothing(harness: Harness, number: str) -> None:
    async with api_client(harness) as api:
        refused = await api.post("/triggers", raw=(TRIGGER % number).encode())
    assert _field(refused) == "signals"
    assert "finite" in refused.json()["message"] and "usage_pct" in refused.json()["message"]
    assert await _no_save(harness, "bluepeak")  # refused before any Temporal call


async def test_a_running_save_never_gets_a_trigger_it_cannot_read(harness: Harness) -> None:
    await harness.start("bluepeak", playbook="value_roi")
    async with api_client(harness) as api:
        refused = await api.post("/triggers", raw=(TRIGGER % "1e999").replace("{", '{"event_id":"e-inf",', 1).encode())
        fine = await api.post("/triggers", raw=(TRIGGER % "31").replace("{", '{"event_id":"e-ok",', 1).encode())
    assert _field(refused) == "signals"
    assert fine.status_code == 202, fine.text
    await harness.sleep(minutes=1)
    ids = [t.trigger.trigger_id for t in (await harness.state("bluepeak")).triggers]
    assert "e-ok" in ids and "e-inf" not in ids


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"event_id":"\\ud800","account_id":"bluepeak","kind":"low_usage"}', "event_id"),
        ('{"account_id":"bluepeak","kind":"low_usage","signals":{"tier":"\\ud800"}}', "signals"),
        ('{"account_id":"bluepeak","kind":"low_usage","signals":{"\\udfff":1}}', "signals"),
        ('{"account_id":"bluepeak","kind":"low_usage","source":"crm\\udc80"}', "source"),
        ('{"account_id":"bluepeak","kind":"low_usage","observed_at":"2030-01-01T00:00:00"}', "observed_at"),
        ('{"account_id":"bluepeak","kind":"low_usage","observed_at":"9999-12-31T23:59:59Z"}', "observed_at"),
    ],
)
async def test_text_that_is_not_unicode_and_naive_times_are_a_422(harness: Harness, raw: str, field: str) -> None:
    async with api_client(harness) as api:
        refused = await api.post("/triggers", raw=raw.encode())
    assert refused.status_code == 422, refused.text
    assert field in (_field(refused) + refused.json()["message"])
    assert await _no_save(harness, "bluepeak")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("commitments", {"what": "Call", "owner": "csm", "due_in": "99999999999d"}, "due_in"),
        ("commitments", {"what": "Call", "owner": "csm", "due_in": "999999999d"}, "due_in"),
        ("commitments", {"what": "Call", "owner": "csm", "due_at": "2030-01-01T00:00:00"}, "due_at"),
        ("commitments", {"what": "Call", "owner": "csm", "due_at": "9999-12-31T00:00:00Z"}, "due_at"),
        ("commitments", {"what": "Call \ud800", "owner": "csm", "due_in": "7d"}, "what"),
        ("outcome", {"kind": "partially_saved", "reason": "downgrade", "arr_retained": "1e999"}, "arr_retained"),
        ("owner", {"owner_id": "u-x", "name": "Eve\r\nBcc: attacker@evil.example"}, "name"),
        ("help", {"role": "support", "what": "Help", "by": "Sam\nBcc: x@evil.example"}, "by"),
    ],
)
async def test_human_actions_refuse_values_the_save_cannot_use(
    harness: Harness, path: str, body: dict[str, Any], field: str
) -> None:
    await harness.start("northwind", playbook="product_issue")
    raw = json.dumps(body).replace('"1e999"', "1e999").encode()
    async with api_client(harness) as api:
        refused = await api.post(f"/saves/northwind/{path}", raw=raw)
    assert _field(refused) == field
    state = await harness.state("northwind")
    assert state.commitments == [] and state.outcome is None and state.owner_changes == []


async def test_a_captured_signed_request_acts_once(harness: Harness) -> None:
    await harness.start("northwind", playbook="product_issue")
    body = json.dumps({"what": "Weekly call", "owner": "csm", "due_in": "7d"}).encode()
    header = sign([SECRET], body)
    async with api_client(harness) as api:
        answers = [
            await api.post("/saves/northwind/commitments", raw=body, signature=header),
            await api.post("/saves/northwind/commitments", raw=body, signature=header),
            await api.post(
                "/saves/northwind/commitments", raw=body, signature=header, headers={"Idempotency-Key": "fresh"}
            ),
            await api.post("/saves/northwind/help", raw=body, signature=header),
        ]
    assert [a.status_code for a in answers[:3]] == [201, 201, 201]
    assert answers[1].content == answers[0].content == answers[2].content
    assert "idempotent-replayed" not in answers[0].headers
    assert answers[1].headers["idempotent-replayed"] == answers[2].headers["idempotent-replayed"] == "true"
    assert answers[3].status_code == 409 and answers[3].json()["error"] == "replayed"
    assert [c.id for c in (await harness.state("northwind")).commitments] == ["c1"]


async def test_a_bound_signature_acts_only_on_its_own_path_and_key(harness: Harness) -> None:
    await harness.start("northwind", playbook="product_issue")
    body = json.dumps({"what": "Weekly call", "owner": "csm", "due_in": "7d"}).encode()
    header = sign([SECRET], body, request=Request("POST", "/saves/northwind/commitments", "k-1"))
    key = {"Idempotency-Key": "k-1"}
    async with api_client(harness) as api:
        first = await api.post("/saves/northwind/commitments", raw=body, signature=header, headers=key)
        elsewhere = await api.post("/saves/northwind/help", raw=body, signature=header, headers=key)
        other_key = await api.post(
            "/saves/northwind/commitments", raw=body, signature=header, headers={"Idempotency-Key": "k-2"}
        )
        no_key = await api.post("/saves/northwind/commitments", raw=body, signature=header)
        again = await api.post("/saves/northwind/commitments", raw=body, signature=header, headers=key)
    assert first.status_code == 201, first.text
    for refused in (elsewhere, other_key, no_key):
        assert refused.status_code == 401, refused.text
        assert refused.json()["fields"][0]["field"] == "Saves-Signature"
        assert "v2 signature does not match" in refused.json()["message"]
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert [c.id for c in (await harness.state("northwind")).commitments] == ["c1"]


async def test_after_a_failed_first_delivery_only_a_bound_signature_stops_a_replay_elsewhere(
    harness: Harness,
) -> None:
    # A failed answer is not remembered (so the sender's retry runs). A v1 request captured from
    # a failed delivery can then act on another path; a v2 one cannot.
    await harness.start("northwind", playbook="product_issue")
    unbound = json.dumps({"what": "Send the roadmap", "owner": "csm", "due_in": "7d"}).encode()
    bound = json.dumps({"what": "Send the ROI deck", "owner": "csm", "due_in": "7d"}).encode()
    v1 = sign([SECRET], unbound)
    v2 = sign([SECRET], bound, request=Request("POST", "/saves/nosuchaccount/commitments"))
    async with api_client(harness) as api:
        failed = [
            await api.post("/saves/nosuchaccount/commitments", raw=unbound, signature=v1),
            await api.post("/saves/nosuchaccount/commitments", raw=bound, signature=v2),
        ]
        v1_elsewhere = await api.post("/saves/northwind/commitments", raw=unbound, signature=v1)
        v2_elsewhere = await api.post("/saves/northwind/commitments", raw=bound, signature=v2)
    assert [f.status_code for f in failed] == [404, 404]
    assert v1_elsewhere.status_code == 201  # the limit of v1, as documented
    assert v2_elsewhere.status_code == 401, v2_elsewhere.text
    assert [c.what for c in (await harness.state("northwind")).commitments] == ["Send the roadmap"]


async def test_an_api_that_requires_v2_refuses_a_v1_signature(harness: Harness) -> None:
    app = create_app(harness.saves, engine=harness.services.engine, secrets=[SECRET], require_v2=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://saves.test") as http:
        api = SignedClient(http, [SECRET])
        v1 = await api.post("/triggers", _EVENT)
        v2 = await api.post("/triggers", _EVENT, bound=True)
        await harness.wait_open("bluepeak")
        read = await api.get("/saves/bluepeak", bound=True)
    assert v1.status_code == 401 and "requires a v2" in v1.json()["message"]
    assert v2.status_code == 202, v2.text
    assert read.status_code == 200, read.text


class _RedeliverOnAnswer:
    """Sends the same event again the moment the first answer's last byte leaves the app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.first = True
        self.client: SignedClient | None = None
        self.redelivered: httpx.Response | None = None
        self.signed_at = int(time.time())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.first or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.first = False

        async def send_then_redeliver(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                assert self.client is not None
                # signed again, at another second: the event id, not the signature, must answer it
                self.redelivered = await self.client.post("/triggers", _EVENT, timestamp=self.signed_at - 1)

        await self.app(scope, receive, send_then_redeliver)


_EVENT = {"event_id": "sf-fast", "account_id": "bluepeak", "kind": "low_usage", "source": "salesforce"}


async def test_an_immediate_redelivery_gets_the_first_answer_not_in_progress(harness: Harness) -> None:
    app = _RedeliverOnAnswer(create_app(harness.saves, engine=harness.services.engine, secrets=[SECRET]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://saves.test") as http:
        app.client = SignedClient(http, [SECRET])
        first = await app.client.post("/triggers", _EVENT, timestamp=app.signed_at)
    again = app.redelivered
    assert first.status_code == 202, first.text
    assert again is not None and again.status_code == 202, again.text if again else None
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
