"""The codec server: ``POST /codec/encode`` and ``POST /codec/decode`` for the Temporal UI and CLI.

Temporal stores only encrypted payloads; a person allowed to read them points the Temporal UI
(or ``temporal workflow show --codec-endpoint``) here, and the browser sends the payloads to this
process to be decrypted with our keys. The body both ways is Temporal's remote codec JSON:
``{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}``.

The browser calls from the UI's origin, so the endpoints answer the CORS preflight for the
allowed origins only. They have their own authorization, separate from the webhook signature:
``Authorization: Bearer <SAVES_CODEC_TOKEN>``, or (only inside ``saves up``, whose embedded UI
cannot send a token) a call from this machine's loopback address.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from dataclasses import dataclass, field

from google.protobuf import json_format
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from worker.api.codec_jwt import JwtCheck
from worker.api.gate import send_error
from worker.runtime.codec import PayloadKeyError
from worker.runtime.settings import Settings

PATHS = {"/codec/encode": "encode", "/codec/decode": "decode"}
ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
MAX_BODY = 8 * 1024 * 1024
"""Payloads are at most 2 MB each in Temporal; a page of them fits well under this."""


@dataclass(frozen=True)
class CodecAccess:
    """Who may call the codec server, and from which browser origins."""

    tokens: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()
    allow_loopback: bool = False
    namespaces: tuple[str, ...] = field(default_factory=tuple)
    """If set, only these namespaces (the UI's ``X-Namespace`` header)."""
    jwt: JwtCheck | None = None
    """The UI's "pass the user access token", checked against the identity provider's keys."""

    @classmethod
    def from_settings(cls, settings: Settings) -> CodecAccess:
        tokens = settings.codec_token.get_secret_value().split(",") if settings.codec_token else []
        origins = settings.codec_origins or f"http://localhost:{settings.ui_port},http://127.0.0.1:{settings.ui_port}"
        return cls(
            tokens=tuple(t.strip() for t in tokens if t.strip()),
            origins=tuple(o.strip().rstrip("/") for o in origins.split(",") if o.strip()),
            allow_loopback=settings.codec_allow_loopback,
            namespaces=(settings.temporal_namespace,),
            jwt=JwtCheck.from_settings(settings),
        )


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


class CodecEndpoints:
    """ASGI middleware answering the two codec paths itself; every other path goes on to the API."""

    def __init__(self, app: ASGIApp, codec: PayloadCodec, access: CodecAccess) -> None:
        self.app = app
        self.codec = codec
        self.access = access

    def _cors(self, origin: str | None) -> list[tuple[bytes, bytes]]:
        if origin is None or origin.rstrip("/") not in self.access.origins:
            return []
        return [
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-allow-methods", b"POST, OPTIONS"),
            (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
            (b"access-control-max-age", b"600"),
            (b"vary", b"Origin"),
        ]

    async def _authorized(self, scope: Scope, headers: dict[str, str]) -> bool:
        given = headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token:
            matched = False
            for good in self.access.tokens:  # every comparison runs: no early exit to time
                matched |= hmac.compare_digest(token.encode(), good.encode())
            if matched:
                return True
            if self.access.jwt is not None and token.count(".") == 2:
                return await asyncio.to_thread(self.access.jwt.person, token) is not None
        client = scope.get("client")
        return self.access.allow_loopback and client is not None and client[0] in LOOPBACK

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in PATHS:
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        origin = headers.get("origin")
        cors = self._cors(origin)
        if origin is not None and not cors:
            await send_error(send, 403, "origin_not_allowed", f"origin {origin} may not call the codec server")
            return
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": cors})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["method"] != "POST":
            await send_error(send, 405, "method_not_allowed", "use POST", [*cors, (b"allow", b"POST, OPTIONS")])
            return
        if not await self._authorized(scope, headers):
            configured = self.access.tokens or self.access.jwt is not None
            why = "a valid Authorization: Bearer token" if configured else "SAVES_CODEC_TOKEN to be set"
            await send_error(
                send, 401, "unauthorized", f"the codec server needs {why}", [*cors, (b"www-authenticate", b"Bearer")]
            )
            return
        namespace = headers.get("x-namespace")
        if namespace and self.access.namespaces and namespace not in self.access.namespaces:
            await send_error(send, 403, "namespace_not_served", f"this codec server does not serve {namespace}", cors)
            return
        body = await _body(receive, MAX_BODY)
        if body is None:
            await send_error(send, 413, "body_too_large", f"the body is over {MAX_BODY} bytes", cors)
            return
        try:
            payloads = json_format.Parse(body, Payloads())
        except (json_format.ParseError, ValueError) as exc:
            await send_error(send, 400, "bad_payloads", f"not Temporal's payloads JSON: {exc}", cors)
            return
        try:
            if PATHS[scope["path"]] == "encode":
                done = await self.codec.encode(payloads.payloads)
            else:
                done = await self.codec.decode(payloads.payloads)
        except PayloadKeyError as exc:
            await send_error(send, 422, "payload_key", str(exc), cors)
            return
        answer = json.dumps(json_format.MessageToDict(Payloads(payloads=done))).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                    *cors,
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})


async def _body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
