"""A small Salesforce REST client over httpx: OAuth 2 for a connected app, JSON, and patience.

The access token comes from the connected app's client-credentials or JWT bearer flow and is fetched again once
when Salesforce answers ``INVALID_SESSION_ID`` (tokens expire with the session policy).
``REQUEST_LIMIT_EXCEEDED`` (the org's API allowance), ``UNABLE_TO_LOCK_ROW``, 5xx answers and an
unreachable server are waited out a few times with a doubling backoff; past that,
:class:`SalesforceError` is raised as retryable and the activity's Temporal retry takes over, so
a Salesforce outage delays a step and never drops it. Errors the data causes (an invalid field, a
restricted picklist value, a malformed id) are raised as not retryable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from activities.crm_errors import CrmError, http_status_retryable

Sleep = Callable[[float], Awaitable[None]]
API_VERSION = "v60.0"
WAITED_OUT = frozenset({"REQUEST_LIMIT_EXCEEDED", "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})
OPERATOR_FIXES = frozenset({"invalid_client", "invalid_client_id", "invalid_grant", "unsupported_grant_type"})
"""OAuth refusals: the connected app's settings are wrong; once an operator fixes them, a retry works."""


class SalesforceError(CrmError):
    """Salesforce refused a request; ``status`` and ``code`` (its ``errorCode``) say why."""

    def __init__(self, status: int, code: str, message: str, method: str, path: str) -> None:
        self.status = status
        self.code = code
        super().__init__(
            f"Salesforce {method} {path}: {status} {code}: {message}",
            retryable=code in WAITED_OUT or code in OPERATOR_FIXES or http_status_retryable(status),
        )


def first_error(data: Any, fallback: str) -> tuple[str, str]:
    """``(errorCode, message)`` of Salesforce's error array, or of an OAuth error object."""
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return str(data[0].get("errorCode") or data[0].get("statusCode") or "ERROR"), str(data[0].get("message", ""))
    if isinstance(data, dict) and "error" in data:
        return str(data["error"]), str(data.get("error_description", ""))
    return "ERROR", fallback


@dataclass(frozen=True)
class ClientCredentials:
    """A connected app's OAuth 2 client-credentials flow (runs as the app's chosen integration user)."""

    login_url: str
    client_id: str
    client_secret: str

    def form(self) -> dict[str, str]:
        return {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret}


@dataclass(frozen=True)
class JwtBearer:
    """A connected app's OAuth 2 JWT bearer flow: an assertion signed with the app's private key
    (RS256) names the user the saves act as; no secret is sent."""

    login_url: str
    client_id: str
    username: str
    private_key: str
    """PEM of the key whose certificate is uploaded to the connected app."""
    audience: str = "https://login.salesforce.com"
    """``https://test.salesforce.com`` for a sandbox."""

    def form(self) -> dict[str, str]:
        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.username, "aud": self.audience, "exp": now + 180}
        assertion = jwt.encode(claims, self.private_key, algorithm="RS256")
        return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}


class SalesforceClient:
    def __init__(
        self,
        auth: ClientCredentials | JwtBearer,
        *,
        api_version: str = API_VERSION,
        max_attempts: int = 5,
        max_wait: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        timeout: float = 30.0,
    ) -> None:
        self._auth = auth
        self._http = httpx.AsyncClient(timeout=timeout)
        self._version = api_version
        self._max_attempts = max_attempts
        self._max_wait = max_wait
        self._sleep = sleep
        self._token: str | None = None
        self._instance = ""
        self._token_lock = asyncio.Lock()
        self.user_id = ""
        """The integration user the token acts as (the last part of the token answer's ``id`` URL)."""

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def data_path(self) -> str:
        """Where the REST resources of our API version live, e.g. ``/services/data/v60.0``."""
        return f"/services/data/{self._version}"

    async def _login(self, stale: str | None) -> None:
        async with self._token_lock:
            if self._token is not None and self._token != stale:
                return  # another request has fetched a fresh one meanwhile
            url = self._auth.login_url.rstrip("/") + "/services/oauth2/token"
            try:
                response = await self._http.post(url, data=self._auth.form())
            except httpx.TransportError as exc:
                raise SalesforceError(0, "UNREACHABLE", str(exc) or type(exc).__name__, "POST", url) from exc
            data = response.json() if response.content else {}
            if response.status_code != 200:
                code, message = first_error(data, response.text[:300])
                # a wrong client id or secret is fixed by an operator; Temporal retries meanwhile
                raise SalesforceError(response.status_code, code, message, "POST", "/services/oauth2/token")
            self._token, self._instance = str(data["access_token"]), str(data["instance_url"]).rstrip("/")
            self.user_id = str(data.get("id") or "").rstrip("/").rsplit("/", 1)[-1]

    def _wait(self, attempt: int) -> float:
        return min(2.0 ** (attempt - 1), self._max_wait)

    async def request(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        """Send one request to ``path`` (under :attr:`data_path` unless it starts with ``/services/``);
        returns the JSON answer, None for 204. Raises :class:`SalesforceError`."""
        full = path if path.startswith("/services/") else f"{self.data_path}{path}"
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            if self._token is None:
                await self._login(None)
            token = self._token
            try:
                response = await self._http.request(
                    method,
                    self._instance + full,
                    json=body,
                    params=params,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.TransportError as exc:
                if attempt >= self._max_attempts:
                    raise SalesforceError(0, "UNREACHABLE", str(exc) or type(exc).__name__, method, path) from exc
                await self._sleep(self._wait(attempt))
                continue
            if response.status_code < 300:
                return response.json() if response.content else None
            try:
                data = response.json()
            except ValueError:
                data = None
            code, message = first_error(data, response.text[:300])
            if response.status_code == 401 and code == "INVALID_SESSION_ID" and not refreshed:
                refreshed = True
                await self._login(token)
                continue
            if (code in WAITED_OUT or response.status_code >= 500) and attempt < self._max_attempts:
                await self._sleep(self._wait(attempt))
                continue
            raise SalesforceError(response.status_code, code, message, method, path)

    async def whoami(self) -> str:
        """The integration user's id, logging in first if needed."""
        if self._token is None:
            await self._login(None)
        return self.user_id

    async def query(self, soql: str, *, deleted: bool = False) -> list[dict[str, Any]]:
        """Every record a SOQL query returns, following ``nextRecordsUrl``; ``deleted`` uses
        ``queryAll`` so deleted records (``IsDeleted = true``) are included."""
        page = await self.request("GET", "/queryAll" if deleted else "/query", params={"q": soql})
        records: list[dict[str, Any]] = list(page["records"])
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            page = await self.request("GET", str(page["nextRecordsUrl"]))
            records += page["records"]
        return records
