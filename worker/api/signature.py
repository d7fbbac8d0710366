"""Webhook signatures: HMAC-SHA256 over the request, in two schemes.

The header carries the timestamp and one or more signatures::

    Saves-Signature: t=1764412800,v1=5257a869e7ec...,v2=0d3e9b...

- ``v1`` covers ``"{t}.{raw body}"``: what every sender has signed since the first release. It
  does not cover the path or the ``Idempotency-Key`` header; the API remembers each signature, so
  the same request sent again within the window is answered as a replay (409 on another path).
- ``v2`` covers ``"{t}.{METHOD} {path}.{Idempotency-Key}.{raw body}"``: the method in capitals,
  the path as the API receives it with its query string (``/saves/northwind?x=1``), and the
  header's value (empty when there is none). Sent to another path or with another key, it does
  not match (401), even when the API no longer remembers the first request.

A header that carries a ``v2`` is judged by its ``v2`` alone; one with only ``v1`` is accepted
unless the API requires ``v2`` (``SAVES_WEBHOOK_REQUIRE_V2``). A request is genuine when any
signature of the scheme matches the HMAC under any configured secret, so a sender can sign with a
new and an old secret while the secret is being rotated. The timestamp must be within the
tolerance of our clock (both ways), which stops an intercepted request from being replayed later.
Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass

HEADER = "Saves-Signature"
SCHEME = "v1"
BOUND_SCHEME = "v2"
TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """Why a request is not accepted as signed; the message is safe to return to the caller."""


@dataclass(frozen=True)
class Request:
    """What a ``v2`` signature covers besides the timestamp and the body."""

    method: str
    path: str
    """The path with its query string, if any: ``/saves/northwind?x=1``."""
    key: str = ""
    """The ``Idempotency-Key`` header's value, or empty."""


@dataclass(frozen=True)
class Signed:
    """A request that passed: its timestamp, and whether a ``v2`` bound it to its method, path and key."""

    timestamp: int
    bound: bool


def compute(secret: str, timestamp: int, body: bytes) -> str:
    """The ``v1`` signature: over ``"{t}.{body}"``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def compute_bound(secret: str, timestamp: int, request: Request, body: bytes) -> str:
    """The ``v2`` signature: over ``"{t}.{METHOD} {path}.{key}.{body}"``."""
    message = f"{timestamp}.{request.method.upper()} {request.path}.{request.key}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secrets: Sequence[str], body: bytes, timestamp: int | None = None, request: Request | None = None) -> str:
    """The header value for ``body``: one ``v1`` per secret (usually one), and with ``request`` one
    ``v2`` per secret after them (an API that predates ``v2`` ignores it and checks the ``v1``)."""
    ts = int(time.time()) if timestamp is None else timestamp
    parts = [f"t={ts}", *(f"{SCHEME}={compute(s, ts, body)}" for s in secrets)]
    if request is not None:
        parts += [f"{BOUND_SCHEME}={compute_bound(s, ts, request, body)}" for s in secrets]
    return ",".join(parts)


def parse(header: str) -> tuple[int, dict[str, list[str]]]:
    """The timestamp and the signatures by scheme."""
    timestamp: int | None = None
    signatures: dict[str, list[str]] = {SCHEME: [], BOUND_SCHEME: []}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError(f"{HEADER}: t must be a Unix timestamp in seconds") from None
        elif name in signatures:
            signatures[name].append(value.strip())
    if timestamp is None:
        raise SignatureError(f"{HEADER}: no timestamp (t=...)")
    if not signatures[SCHEME] and not signatures[BOUND_SCHEME]:
        raise SignatureError(f"{HEADER}: no {SCHEME}=... or {BOUND_SCHEME}=... signature")
    return timestamp, signatures


def _any_matches(candidates: list[str], expected: list[str]) -> bool:
    matched = False
    for candidate in candidates:
        for good in expected:
            # compare_digest on every pair: no early exit that would leak which one matched
            matched |= hmac.compare_digest(candidate.encode(), good.encode())
    return matched


def verify(
    secrets: Sequence[str],
    header: str | None,
    body: bytes,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
    request: Request | None = None,
    require_bound: bool = False,
) -> Signed:
    """The request's timestamp and binding if it is signed by one of ``secrets``; raise
    :class:`SignatureError` if not. ``request`` is what a ``v2`` covers (without it, only ``v1``
    can match); ``require_bound`` refuses a request that carries no ``v2``."""
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    timestamp, signatures = parse(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(
            f"{HEADER}: timestamp is more than {tolerance} s from now; "
            "sign the request again (is the sender's clock right?)"
        )
    if signatures[BOUND_SCHEME]:
        expected = [compute_bound(secret, timestamp, request, body) for secret in secrets] if request else []
        if not _any_matches(signatures[BOUND_SCHEME], expected):
            raise SignatureError(
                f"{HEADER}: {BOUND_SCHEME} signature does not match; it covers the method, the path with its "
                "query, the Idempotency-Key and the body, so a request sent to another path or with "
                "another key must be signed again"
            )
        return Signed(timestamp, bound=True)
    if require_bound:
        raise SignatureError(
            f"{HEADER}: this API requires a {BOUND_SCHEME}=... signature (over the method, the path, "
            "the Idempotency-Key and the body); sign with saves sign --path"
        )
    if not _any_matches(signatures[SCHEME], [compute(secret, timestamp, body) for secret in secrets]):
        raise SignatureError(f"{HEADER}: signature does not match")
    return Signed(timestamp, bound=False)
