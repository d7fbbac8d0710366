"""``POST /crm/hubspot/webhook``: HubSpot's webhooks, checked by HubSpot's v3 signature, recorded, answered.

HubSpot signs each request: ``X-HubSpot-Signature-v3`` is the base64 HMAC-SHA256, keyed with the
app's client secret, of ``method + uri + body + timestamp``, where the timestamp (epoch
milliseconds) is the ``X-HubSpot-Request-Timestamp`` header. A request whose timestamp is more
than five minutes from our clock is refused as stale (an intercepted request cannot be replayed
later); a signature that does not match is refused as forged. Both get 401.

The endpoint only records the events (one row per HubSpot ``eventId``, so a redelivery is kept
once) and answers; HubSpot retries a webhook that is slow to answer. Turning them into inbound
events for the saves needs HubSpot's API and happens later (:mod:`activities.store.crm_inbox`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from activities.store.crm_inbox import record

PATH = "/crm/hubspot/webhook"
SIGNATURE = "X-HubSpot-Signature-v3"
TIMESTAMP = "X-HubSpot-Request-Timestamp"
WINDOW_MS = 5 * 60 * 1000
OBJECT_TYPES = {
    "0-1": "contacts",
    "0-2": "companies",
    "0-27": "tasks",
    "0-47": "meetings",
    "0-48": "calls",
    "0-49": "emails",
    "contact": "contacts",
    "company": "companies",
}
"""HubSpot's object type ids (and the legacy ``company.propertyChange`` prefixes) as API names."""


class WebhookSignatureError(Exception):
    """Why a request is not accepted as HubSpot's; safe to return to the caller."""


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def verify_v3(
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now_ms: int | None = None,
) -> None:
    """Raise :class:`WebhookSignatureError` unless the request is HubSpot's and recent."""
    if not signature or not timestamp:
        raise WebhookSignatureError(f"missing {SIGNATURE} or {TIMESTAMP}")
    try:
        sent = int(timestamp)
    except ValueError:
        raise WebhookSignatureError(f"{TIMESTAMP} is not epoch milliseconds") from None
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if abs(now - sent) > WINDOW_MS:
        raise WebhookSignatureError(f"{TIMESTAMP} is more than 5 minutes from our clock")
    expected = signature_v3(secret, method, unquote(uri), body, timestamp)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise WebhookSignatureError(f"{SIGNATURE} does not match")


class HubSpotWebhookEvent(BaseModel):
    """One event of a HubSpot webhook request (a request carries up to 100)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    event_id: int | str = Field(alias="eventId")
    occurred_at: int = Field(alias="occurredAt", ge=0)
    subscription_type: str = Field(alias="subscriptionType", min_length=1, max_length=64)
    object_id: int | str = Field(alias="objectId")
    object_type_id: str | None = Field(default=None, alias="objectTypeId", max_length=32)
    property_name: str | None = Field(default=None, alias="propertyName")
    property_value: Any = Field(default=None, alias="propertyValue")

    @property
    def object_type(self) -> str:
        prefix = self.subscription_type.split(".", 1)[0]
        return OBJECT_TYPES.get(self.object_type_id or prefix, self.object_type_id or prefix)


EVENTS = TypeAdapter(list[HubSpotWebhookEvent])


class WebhookRecorded(BaseModel):
    received: int
    recorded: int
    """Events not seen before (a redelivered event is received again, recorded once)."""


def _error(status: int, error: str, message: str, fields: list[dict[str, str]] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, "fields": fields or []}, status_code=status)


router = APIRouter()


@router.post(
    PATH,
    response_model=WebhookRecorded,
    summary="HubSpot webhook (HubSpot's v3 signature, not Saves-Signature)",
    responses={401: {"description": "Forged or stale HubSpot signature"}, 404: {"description": "Not configured"}},
)
async def hubspot_webhook(request: Request) -> Any:
    """Record HubSpot's events for the saves and answer at once; they are processed later."""
    secret: str | None = getattr(request.app.state, "hubspot_app_secret", None)
    if not secret:
        return _error(404, "not_configured", "HubSpot webhooks are off: set SAVES_HUBSPOT_APP_SECRET")
    body = await request.body()
    uri = getattr(request.app.state, "hubspot_webhook_url", None) or str(request.url)
    try:
        verify_v3(secret, request.method, uri, body, request.headers.get(TIMESTAMP), request.headers.get(SIGNATURE))
    except WebhookSignatureError as exc:
        return _error(401, "unauthorized", str(exc))
    try:
        events = EVENTS.validate_json(body or b"null")
    except ValidationError as exc:
        fields = [
            {"field": ".".join(str(p) for p in problem["loc"]) or "body", "problem": problem["msg"]}
            for problem in exc.errors()[:20]
        ]
        return _error(422, "invalid_request", "the body is not a list of HubSpot webhook events", fields)
    now = datetime.now(UTC)
    rows = [
        {
            "crm": "hubspot",
            "event_id": str(e.event_id),
            "object_type": e.object_type,
            "object_id": str(e.object_id),
            "change": e.subscription_type,
            "occurred_at": datetime.fromtimestamp(e.occurred_at / 1000, UTC),
            "payload": e.model_dump(mode="json", by_alias=True),
            "received_at": now,
        }
        for e in events
    ]
    recorded = await record(request.app.state.engine, rows)
    return WebhookRecorded(received=len(rows), recorded=recorded)
