"""What every API request passes before it reaches an endpoint: size limit, signature, idempotency.

Plain ASGI middleware, because both checks need the raw bytes of the body before anything
parses it: the signature is over the exact bytes, and an unsigned request must get 401 even if
its body is not JSON.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from activities.store.idempotency import IdempotencyStore
from worker.api.signature import HEADER, SignatureError, verify

OPEN_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/healthz"})
"""Paths anyone may read: the API's own description and a liveness probe. Everything else is signed."""
OWN_SIGNATURE_PATHS = frozenset({"/crm/hubspot/webhook"})
"""Paths whose sender signs its own way (HubSpot's v3 signature); the route checks it, the size limit holds."""
BODY_KEY = "saves.body"
IDEMPOTENCY_HEADER = "idempotency-key"


async def send_error(
    send: Send,
    status: int,
    error: str,
    message: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
    field: str | None = None,
) -> None:
    """Every error has the documented shape ``{"error", "message", "fields"}``; ``field`` names what to fix."""
    fields = [{"field": field, "message": message}] if field else []
    body = json.dumps({"error": error, "message": message, "fields": fields}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _replay(body: bytes) -> Receive:
    """A ``receive`` that hands the already-read body to the app."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


class SignedRequests:
    """413 for a body over ``max_body`` bytes, 401 for a missing, wrong or stale signature."""

    def __init__(self, app: ASGIApp, secrets: Sequence[str], max_body: int) -> None:
        self.app = app
        self.secrets = list(secrets)
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_body:
            await send_error(send, 413, "body_too_large", f"the body is over {self.max_body} bytes", field="body")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await send_error(send, 413, "body_too_large", f"the body is over {self.max_body} bytes", field="body")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if scope["path"] in OWN_SIGNATURE_PATHS:
            await self.app(scope, _replay(body), send)
            return
        try:
            verify(self.secrets, _header(scope, HEADER.lower().encode()), body)
        except SignatureError as exc:
            await send_error(
                send, 401, "unauthorized", str(exc), [(b"www-authenticate", HEADER.encode())], field=HEADER
            )
            return
        scope[BODY_KEY] = body
        await self.app(scope, _replay(body), send)


class Idempotent:
    """A POST with an ``Idempotency-Key`` header (or an ``event_id`` in its JSON body) runs once.

    A redelivery gets the first successful answer again, with ``Idempotent-Replayed: true``.
    Failed requests are forgotten so that the sender's retry runs them again; a key reused for
    a different body is refused (422).
    """

    def __init__(self, app: ASGIApp, store_of: Callable[[], IdempotencyStore]) -> None:
        self.app = app
        self.store_of = store_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = scope.get(BODY_KEY) if scope["type"] == "http" else None
        key = self._key(scope, body) if scope.get("method") == "POST" and body is not None else None
        if key is None:
            await self.app(scope, receive, send)
            return
        assert body is not None
        scoped = f"{scope['path']}#{key}"[:400]
        store = self.store_of()
        claim = await store.claim(scoped, hashlib.sha256(body).hexdigest(), datetime.now(UTC))
        if claim.outcome == "mismatch":
            await send_error(
                send,
                422,
                "idempotency_key_reused",
                "this Idempotency-Key (or event_id) was used for a different request",
                field="Idempotency-Key",
            )
            return
        if claim.outcome == "in_progress":
            await send_error(
                send,
                409,
                "in_progress",
                "a request with this Idempotency-Key is still running; retry shortly",
                [(b"retry-after", b"1")],
            )
            return
        if claim.outcome == "replay":
            await send(
                {
                    "type": "http.response.start",
                    "status": claim.status_code,
                    "headers": [
                        (b"content-type", claim.content_type.encode()),
                        (b"content-length", str(len(claim.body)).encode()),
                        (b"idempotent-replayed", b"true"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": claim.body})
            return
        captured: dict[str, Any] = {"status": 500, "body": [], "type": "application/json"}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["type"] = next(
                    (v.decode("latin-1") for k, v in message.get("headers", []) if k.lower() == b"content-type"),
                    "application/json",
                )
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            if 200 <= captured["status"] < 300:
                await store.finish(
                    scoped, captured["status"], b"".join(captured["body"]), captured["type"], datetime.now(UTC)
                )
            else:
                await store.release(scoped)

    @staticmethod
    def _key(scope: Scope, body: bytes) -> str | None:
        header = _header(scope, IDEMPOTENCY_HEADER.encode())
        if header and header.strip():
            return header.strip()
        if b"event_id" not in body:
            return None
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return None
        event_id = data.get("event_id") if isinstance(data, dict) else None
        return f"event:{event_id}" if isinstance(event_id, str) and event_id.strip() else None
