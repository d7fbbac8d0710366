"""A small HubSpot REST client over httpx: bearer token, JSON, and patience with rate limits.

A 429 is waited out (``Retry-After`` when HubSpot sends it, else a doubling backoff) and 5xx
answers are retried a few times; past that, :class:`HubSpotError` is raised and the activity's
own Temporal retry takes over, so a CRM outage delays a step and never drops it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from activities.crm_errors import CrmError, http_status_retryable

Sleep = Callable[[float], Awaitable[None]]


class HubSpotError(CrmError):
    """HubSpot refused a request; ``status`` and ``category`` are HubSpot's, the message says what."""

    def __init__(self, status: int, category: str, message: str, method: str, path: str) -> None:
        self.status = status
        self.category = category
        super().__init__(
            f"HubSpot {method} {path}: {status} {category}: {message}", retryable=http_status_retryable(status)
        )


class HubSpotClient:
    def __init__(
        self,
        token: str,
        base_url: str = "https://api.hubapi.com",
        *,
        max_attempts: int = 5,
        max_wait: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        timeout: float = 30.0,
    ) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, headers={"Authorization": f"Bearer {token}"})
        self._max_attempts = max_attempts
        self._max_wait = max_wait
        self._sleep = sleep

    async def aclose(self) -> None:
        await self._http.aclose()

    def _wait(self, response: httpx.Response, attempt: int) -> float:
        header = response.headers.get("Retry-After")
        try:
            wait = float(header) if header is not None else 2.0 ** (attempt - 1)
        except ValueError:  # an HTTP date: rare from HubSpot; fall back to the backoff
            wait = 2.0 ** (attempt - 1)
        return min(max(wait, 0.0), self._max_wait)

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Send one request; returns the JSON answer ({} for 204). Raises :class:`HubSpotError`."""
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = await self._http.request(method, path, json=body, params=params)
            except httpx.TransportError as exc:
                if attempt == self._max_attempts:
                    raise HubSpotError(0, "UNREACHABLE", str(exc) or type(exc).__name__, method, path) from exc
                await self._sleep(min(2.0 ** (attempt - 1), self._max_wait))
                continue
            retryable = response.status_code == 429 or response.status_code >= 500
            if retryable and attempt < self._max_attempts:
                await self._sleep(self._wait(response, attempt))
                continue
            if response.status_code >= 400:
                raise self._error(response, method, path)
            return response.json() if response.content else {}
        raise AssertionError("unreachable")

    @staticmethod
    def _error(response: httpx.Response, method: str, path: str) -> HubSpotError:
        try:
            data = response.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        return HubSpotError(
            response.status_code,
            str(data.get("category", "ERROR")),
            str(data.get("message", response.text[:300])),
            method,
            path,
        )
