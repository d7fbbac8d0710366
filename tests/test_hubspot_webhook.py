"""``POST /crm/hubspot/webhook``: HubSpot's v3 signature checked (forged or stale -> 401), events
recorded once per HubSpot event id, and processed later into the same inbound events the
reconciler reads."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.hubspot.inbound import HubSpotInbound, process_webhooks
from activities.store.db import create_schema, make_engine, sessions
from activities.store.tables import CrmInbox
from playbook_defs.vocabulary import OwnerRole
from tests.crm_worlds import World, hubspot_world
from tests.test_crm_contract import AT, task
from worker.api.app import create_app
from worker.api.hubspot_webhook import PATH, SIGNATURE, TIMESTAMP, signature_v3
from workflows.contracts import InboundKind

APP_SECRET = "hubspot-app-client-secret"
BASE = "https://saves.example.com"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await create_schema(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def http(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(engine=engine, secrets=["api-secret"], max_body=4096, hubspot_app_secret=APP_SECRET)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield client


def event(event_id: int, object_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "subscriptionId": 2001,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": "object.propertyChange",
        "attemptNumber": 0,
        "objectId": int(object_id),
        "objectTypeId": "0-27",
        "propertyName": "hs_task_status",
        "propertyValue": "COMPLETED",
        "changeSource": "CRM_UI",
        **extra,
    }


async def deliver(
    http: httpx.AsyncClient,
    events: Any,
    *,
    secret: str = APP_SECRET,
    timestamp: int | None = None,
    uri: str = f"{BASE}{PATH}",
    tamper: bytes | None = None,
) -> httpx.Response:
    body = json.dumps(events).encode()
    stamp = str(int(time.time() * 1000) if timestamp is None else timestamp)
    headers = {
        "content-type": "application/json",
        SIGNATURE: signature_v3(secret, "POST", uri, body, stamp),
        TIMESTAMP: stamp,
    }
    return await http.post(PATH, content=tamper if tamper is not None else body, headers=headers)


async def inbox(engine: AsyncEngine) -> list[tuple[str, str, str]]:
    async with sessions(engine)() as session:
        rows = (await session.execute(select(CrmInbox).order_by(CrmInbox.id))).scalars()
        return [(r.event_id, r.object_type, r.object_id) for r in rows]


async def test_a_signed_webhook_is_recorded_once_however_often_it_is_delivered(
    http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    batch = [event(7001, "1201"), event(7002, "1202", subscriptionType="object.deletion", propertyName=None)]
    first = await deliver(http, batch)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": 2, "recorded": 2}
    again = await deliver(http, batch)  # HubSpot retries a webhook it did not see answered
    assert again.json() == {"received": 2, "recorded": 0}
    assert await inbox(engine) == [("7001", "tasks", "1201"), ("7002", "tasks", "1202")]


async def test_a_forged_or_stale_signature_gets_401_and_records_nothing(
    http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    batch = [event(7001, "1201")]
    now = int(time.time() * 1000)
    refused = {
        "wrong secret": await deliver(http, batch, secret="not-the-app-secret"),
        "stale": await deliver(http, batch, timestamp=now - 6 * 60 * 1000),
        "from the future": await deliver(http, batch, timestamp=now + 6 * 60 * 1000),
        "body changed": await deliver(http, batch, tamper=json.dumps([event(7001, "9999")]).encode()),
        "other url": await deliver(http, batch, uri=f"{BASE}/somewhere-else"),
        "no headers": await http.post(PATH, json=batch),
    }
    assert {name: r.status_code for name, r in refused.items()} == dict.fromkeys(refused, 401)
    assert "more than 5 minutes" in refused["stale"].json()["message"]
    assert "does not match" in refused["wrong secret"].json()["message"]
    assert await inbox(engine) == []
    assert (await deliver(http, batch, timestamp=now - 4 * 60 * 1000)).status_code == 200  # inside the window


async def test_bad_bodies_name_the_field_and_the_size_limit_still_holds(http: httpx.AsyncClient) -> None:
    missing = await deliver(http, [{"eventId": 1, "subscriptionType": "object.creation"}])
    assert missing.status_code == 422
    assert {f["field"] for f in missing.json()["fields"]} == {"0.occurredAt", "0.objectId"}
    assert (await deliver(http, {"eventId": 1})).status_code == 422
    assert (await deliver(http, [event(i, "1201") for i in range(100)])).status_code == 413


async def test_the_webhook_is_off_without_the_app_secret(engine: AsyncEngine) -> None:
    app = create_app(engine=engine, secrets=["api-secret"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        answer = await deliver(client, [event(1, "1")])
    assert answer.status_code == 404 and "SAVES_HUBSPOT_APP_SECRET" in answer.json()["message"]


async def test_the_signed_url_can_be_the_public_one_behind_a_proxy(engine: AsyncEngine) -> None:
    public = "https://crm-hooks.ourco.example.com/saves/crm/hubspot/webhook"
    app = create_app(engine=engine, secrets=["x"], hubspot_app_secret=APP_SECRET, hubspot_webhook_url=public)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://10.0.0.5:8000") as client:
        assert (await deliver(client, [event(1, "1")], uri=public)).status_code == 200
        assert (await deliver(client, [event(2, "1")])).status_code == 401


@pytest.fixture
async def hubspot() -> AsyncIterator[World]:
    async with hubspot_world() as w:
        yield w


async def test_recorded_webhooks_become_the_same_events_the_reconciler_reads(
    hubspot: World, http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    sam = await hubspot.crm.get_owner("northwind", OwnerRole.CSM)
    call_id = await hubspot.crm.create_task(task("save-northwind/task/call"), sam)
    review_id = await hubspot.crm.create_task(task("save-northwind/task/review"), sam)
    start = await hubspot.crm.changes_since(None)
    await hubspot.complete_in_crm("save-northwind/task/call", AT)
    await hubspot.delete_in_crm("save-northwind/task/review", AT)
    completed = event(8001, call_id)
    deleted = event(8002, review_id, subscriptionType="object.deletion", propertyName=None, propertyValue=None)
    assert (await deliver(http, [completed, deleted])).status_code == 200
    assert (await deliver(http, [completed])).json()["recorded"] == 0

    inbound = HubSpotInbound(hubspot.crm)  # type: ignore[arg-type]
    from_webhooks = await process_webhooks(inbound, engine)
    assert {(e.kind, e.task_key, e.by) for e in from_webhooks} == {
        (InboundKind.TASK_COMPLETED, "save-northwind/task/call", "Sam Ortiz"),
        (InboundKind.TASK_DELETED, "save-northwind/task/review", None),
    }
    reconciled = await hubspot.crm.changes_since(start.cursor)
    assert {e.key for e in from_webhooks} <= {e.key for e in reconciled.events}
    assert await process_webhooks(inbound, engine) == []  # processed once
