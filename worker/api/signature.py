"""Webhook signatures: HMAC-SHA256 over ``"{timestamp}.{raw body}"``.

The header carries the timestamp and one or more signatures::

    Saves-Signature: t=1764412800,v1=5257a869e7ec...,v1=0d3e9b...

A request is genuine when any ``v1`` matches the HMAC under any configured secret, so a sender
can sign with a new and an old secret while the secret is being rotated. The timestamp must be
within the tolerance of our clock (both ways), which stops an intercepted request from being
replayed later. Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

HEADER = "Saves-Signature"
SCHEME = "v1"
TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """Why a request is not accepted as signed; the message is safe to return to the caller."""


def compute(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secrets: Sequence[str], body: bytes, timestamp: int | None = None) -> str:
    """The header value for ``body``: one signature per secret (usually one)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={ts}", *(f"{SCHEME}={compute(s, ts, body)}" for s in secrets)])


def parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError(f"{HEADER}: t must be a Unix timestamp in seconds") from None
        elif name == SCHEME:
            signatures.append(value.strip())
    if timestamp is None:
        raise SignatureError(f"{HEADER}: no timestamp (t=...)")
    if not signatures:
        raise SignatureError(f"{HEADER}: no {SCHEME}=... signature")
    return timestamp, signatures


def verify(
    secrets: Sequence[str],
    header: str | None,
    body: bytes,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Return the signature's timestamp if the request is signed by one of ``secrets``; raise
    :class:`SignatureError` if not."""
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    timestamp, signatures = parse(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(
            f"{HEADER}: timestamp is more than {tolerance} s from now; "
            "sign the request again (is the sender's clock right?)"
        )
    expected = [compute(secret, timestamp, body) for secret in secrets]
    matched = False
    for candidate in signatures:
        for good in expected:
            # compare_digest on every pair: no early exit that would leak which one matched
            matched |= hmac.compare_digest(candidate.encode(), good.encode())
    if not matched:
        raise SignatureError(f"{HEADER}: signature does not match")
    return timestamp
