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

from activities.store.idempotency import Claim, IdempotencyStore
from playbook_defs.values import problem
from worker.api.signature import HEADER, Request, SignatureError, verify

OPEN_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/healthz"})
"""Paths anyone may read: the API's own description and a liveness probe. Everything else is signed."""
OWN_SIGNATURE_PATHS = frozenset({"/crm/hubspot/webhook"})
"""Paths whose sender signs its own way (HubSpot's v3 signature); the route checks it, the size limit holds."""
BODY_KEY = "saves.body"
SIGNED_AT_KEY = "saves.signed_at"
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


def signed_request(scope: Scope) -> Request:
    """What a ``v2`` signature covers: the method, the path as sent with its query, the Idempotency-Key."""
    raw = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string") or b""
    path = raw.split(b"?", 1)[0].decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    key = (_header(scope, IDEMPOTENCY_HEADER.encode()) or "").strip()
    return Request(method=str(scope["method"]), path=path, key=key)


class SignedRequests:
    """413 for a body over ``max_body`` bytes, 401 for a missing, wrong or stale signature (or, with
    ``require_bound``, one without a ``v2``)."""

    def __init__(self, app: ASGIApp, secrets: Sequence[str], max_body: int, require_bound: bool = False) -> None:
        self.app = app
        self.secrets = list(secrets)
        self.max_body = max_body
        self.require_bound = require_bound

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
            signed = verify(
                self.secrets,
                _header(scope, HEADER.lower().encode()),
                body,
                request=signed_request(scope),
                require_bound=self.require_bound,
            )
        except SignatureError as exc:
            await send_error(
                send, 401, "unauthorized", str(exc), [(b"www-authenticate", HEADER.encode())], field=HEADER
            )
            return
        scope[SIGNED_AT_KEY] = signed.timestamp
        scope[BODY_KEY] = body
        await self.app(scope, _replay(body), send)


class Idempotent:
    """A signed POST runs once; a redelivery gets the first successful answer again, with
    ``Idempotent-Replayed: true``.

    Two keys protect a POST. Its signature (timestamp and body): the exact request replayed
    within the signature's tolerance window is answered as a replay, whatever route it is sent
    to, so a captured request cannot act twice (a ``v2`` signature also covers the path and the
    key, so sent elsewhere it is refused before it gets here). And the sender's ``Idempotency-Key`` header (or
    the ``event_id`` of a trigger), which also covers a redelivery signed again later. The
    answer is stored before it is sent, so an immediate redelivery finds it. Failed requests
    are forgotten so that the sender's retry runs them again; a key reused for a different
    body is refused (422).
    """

    def __init__(self, app: ASGIApp, store_of: Callable[[], IdempotencyStore]) -> None:
        self.app = app
        self.store_of = store_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = scope.get(BODY_KEY) if scope["type"] == "http" else None
        if scope.get("method") != "POST" or body is None:
            await self.app(scope, receive, send)
            return
        fingerprint = hashlib.sha256(body).hexdigest()
        keys = [(f"signed:{scope.get(SIGNED_AT_KEY, 0)}:{fingerprint}", f"{fingerprint}:{scope['path']}")]
        try:
            key = self._key(scope, body)
        except ValueError as exc:
            await send_error(send, 422, "invalid_request", str(exc), field="event_id")
            return
        if key is not None:
            keys.append((f"{scope['path']}#{key}"[:400], fingerprint))
        store = self.store_of()
        now = datetime.now(UTC)
        claimed: list[str] = []
        for scoped, print_ in keys:
            claim = await store.claim(scoped, print_, now)
            if claim.outcome == "run":
                claimed.append(scoped)
                continue
            for done in claimed:
                await store.release(done)
            await self._refuse(send, claim, signature=scoped.startswith("signed:"))
            return
        captured: dict[str, Any] = {"start": None, "body": []}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["start"] = message
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            for scoped in claimed:
                await store.release(scoped)
            raise
        start: Message | None = captured["start"]
        status = int(start["status"]) if start is not None else 500
        content = b"".join(captured["body"])
        content_type = next(
            (v.decode("latin-1") for k, v in (start or {}).get("headers", []) if k.lower() == b"content-type"),
            "application/json",
        )
        # Stored before it is sent: a redelivery that arrives as soon as the sender has the
        # answer must find it, not a claim still in progress.
        for scoped in claimed:
            if 200 <= status < 300:
                await store.finish(scoped, status, content, content_type, datetime.now(UTC))
            else:
                await store.release(scoped)
        if start is None:
            await send_error(send, 500, "internal_error", "the request produced no answer")
            return
        await send(start)
        await send({"type": "http.response.body", "body": content})

    @staticmethod
    async def _refuse(send: Send, claim: Claim, signature: bool) -> None:
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
        elif claim.outcome == "mismatch" and signature:
            await send_error(
                send,
                409,
                "replayed",
                "this signed request was already sent to another path; sign a new request",
                field=HEADER,
            )
        elif claim.outcome == "mismatch":
            await send_error(
                send,
                422,
                "idempotency_key_reused",
                "this Idempotency-Key (or event_id) was used for a different request",
                field="Idempotency-Key",
            )
        else:
            await send_error(
                send,
                409,
                "in_progress",
                "the same request is still running; retry shortly",
                [(b"retry-after", b"1")],
            )

    @staticmethod
    def _key(scope: Scope, body: bytes) -> str | None:
        """The sender's key; ValueError for an ``event_id`` that is not valid text."""
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
        if not isinstance(event_id, str) or not event_id.strip():
            return None
        found = problem(event_id, "event_id")
        if found:
            raise ValueError(found)
        return f"event:{event_id}"
