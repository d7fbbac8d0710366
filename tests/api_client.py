"""Call the real API app in-process (httpx over ASGI), signing requests as a CRM would."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.harness import Harness
from worker.api.app import create_app
from worker.api.signature import HEADER, Request, sign

SECRET = "test-secret-0123456789"


class SignedClient:
    """An httpx client whose requests carry a valid ``Saves-Signature`` unless told otherwise."""

    def __init__(self, http: httpx.AsyncClient, secrets: list[str]) -> None:
        self.http = http
        self.secrets = secrets

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        secrets: list[str] | None = None,
        timestamp: int | None = None,
        age: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        bound: bool = False,
    ) -> httpx.Response:
        content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        sent = {"content-type": "application/json", **(headers or {})}
        if signature is not None:
            sent[HEADER] = signature
        elif secrets != []:
            # ``age``: signed that many seconds before this moment (negative: in the future),
            # computed as the request leaves, however long the requests before it took
            moment = timestamp if timestamp is not None else int(time.time()) - (age or 0)
            # ``bound``: with a v2 signature over the method, path and Idempotency-Key too
            request = Request(method, path, (headers or {}).get("Idempotency-Key", "").strip()) if bound else None
            sent[HEADER] = sign(secrets or self.secrets, content, moment, request)
        return await self.http.request(method, path, content=content, headers=sent)

    async def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, body, **kw)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, **kw)


@asynccontextmanager
async def api_client(
    harness: Harness,
    secrets: list[str] | None = None,
    signing: list[str] | None = None,
    max_body: int = 64 * 1024,
) -> AsyncIterator[SignedClient]:
    """The API over the harness's saves and store, accepting ``secrets``; requests are signed
    with ``signing``."""
    accepted = secrets or [SECRET]
    app = create_app(harness.saves, engine=harness.services.engine, secrets=accepted, max_body=max_body)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://saves.test") as http:
        yield SignedClient(http, signing or accepted[:1])
