"""Customer data never reaches Temporal in clear: an AES-256-GCM payload codec and the one data converter.

Every payload (workflow and activity inputs and results, signals, updates, queries, failure
messages, summaries) is encrypted by the client or worker that writes it, so the cluster, Temporal
Cloud included, stores only ciphertext. Search attributes are not payloads the codec sees; they
hold ids, enums, numbers and dates only (see :mod:`workflows.search_attributes`).

Each encrypted payload names its key in its metadata (``encryption-key-id``), so keys rotate
without re-encrypting anything: put the new key first and keep the old ones after it; the first
encrypts, all decrypt. Payloads that were never encrypted (histories recorded before the codec)
decode unchanged; a payload whose key is missing or wrong is an error naming the key id, never a
silent fallback.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from worker.runtime.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID_FIELD = "encryption-key-id"
KEY_FILE = "encryption_keys"
"""The key file ``saves up`` creates in the data directory on first start."""
NONCE_BYTES = 12
KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class EncryptionSettingsError(ValueError):
    """The keys cannot be read or are malformed; the message names the variable or file and the key id."""


class PayloadKeyError(ValueError):
    """A payload cannot be decrypted: its key is not configured, or the configured key is wrong."""


@dataclass(frozen=True)
class KeyRing:
    """Named AES-256 keys, the encrypting one first; ``source`` says where they came from (for errors)."""

    keys: tuple[tuple[str, bytes], ...]
    source: str

    @property
    def current(self) -> str:
        return self.keys[0][0]

    @property
    def ids(self) -> list[str]:
        return [kid for kid, _ in self.keys]


def _key_bytes(text: str, kid: str, source: str) -> bytes:
    cleaned = text.strip()
    padded = cleaned + "=" * (-len(cleaned) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise EncryptionSettingsError(f"{source}: key {kid!r} is not base64 (make one with `saves keys new`)") from None
    if len(raw) != KEY_BYTES:
        raise EncryptionSettingsError(
            f"{source}: key {kid!r} is {len(raw)} bytes; AES-256 needs {KEY_BYTES} (make one with `saves keys new`)"
        )
    return raw


def parse_keys(text: str, source: str) -> KeyRing:
    """``id:base64key`` entries separated by commas or lines; the first encrypts."""
    entries = [e.strip() for e in re.split(r"[,\n]", text) if e.strip() and not e.strip().startswith("#")]
    if not entries:
        raise EncryptionSettingsError(f"{source}: no key (expected id:base64key; make one with `saves keys new`)")
    keys: list[tuple[str, bytes]] = []
    for entry in entries:
        kid, sep, value = entry.partition(":")
        kid = kid.strip()
        if not sep or not _KEY_ID.match(kid):
            raise EncryptionSettingsError(
                f"{source}: entry {len(keys) + 1} is not id:base64key (ids use letters, digits, '.', '_', '-')"
            )
        if kid in dict(keys):
            raise EncryptionSettingsError(f"{source}: key id {kid!r} appears twice")
        keys.append((kid, _key_bytes(value, kid, source)))
    return KeyRing(tuple(keys), source)


def key_file(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE


def key_ring(settings: Settings) -> KeyRing | None:
    """The configured keys; None only when ``SAVES_ENCRYPTION=off``.

    ``SAVES_ENCRYPTION_KEYS`` wins, then ``SAVES_ENCRYPTION_KEY_FILE``, then the key file ``saves up``
    wrote to the data directory. No key anywhere is an error, not plaintext.
    """
    if settings.encryption == "off":
        return None
    if settings.encryption_keys is not None:
        return parse_keys(settings.encryption_keys.get_secret_value(), "SAVES_ENCRYPTION_KEYS")
    if settings.encryption_key_file is not None:
        path = settings.encryption_key_file
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise EncryptionSettingsError(f"SAVES_ENCRYPTION_KEY_FILE {path}: {exc.strerror}") from None
        return parse_keys(text, f"SAVES_ENCRYPTION_KEY_FILE {path}")
    path = key_file(settings)
    if path.is_file():
        return parse_keys(path.read_text(encoding="utf-8"), f"key file {path}")
    raise EncryptionSettingsError(
        "no payload encryption key: set SAVES_ENCRYPTION_KEYS (id:base64key, from `saves keys new`) or "
        f"SAVES_ENCRYPTION_KEY_FILE, or run `saves up` once to create {path}; "
        "SAVES_ENCRYPTION=off sends customer data to Temporal in plaintext"
    )


def new_key(now: datetime | None = None) -> str:
    """A fresh ``id:base64key`` entry; the id starts with the date, so the newest is easy to see."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d")
    return f"k{stamp}-{secrets.token_hex(3)}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def ensure_key_file(settings: Settings) -> Path | None:
    """The embedded default: create a key file in the data directory on first start.

    Returns its path when the keys come from that file; None when configured otherwise or off.
    """
    if settings.encryption == "off" or settings.encryption_keys is not None or settings.encryption_key_file:
        return None
    path = key_file(settings)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key() + "\n")
    return path


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over the whole serialized payload; the key id travels in the metadata."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._ciphers = {kid: AESGCM(key) for kid, key in ring.keys}
        self._current = ring.current
        self._current_id = ring.current.encode()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._current].encrypt(nonce, payload.SerializeToString(), self._current_id)
        return Payload(metadata={"encoding": ENCODING, KEY_ID_FIELD: self._current_id}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # never encrypted: written before the codec, or with SAVES_ENCRYPTION=off
        kid = payload.metadata.get(KEY_ID_FIELD, b"").decode(errors="replace")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise PayloadKeyError(
                f"a payload is encrypted with key id {kid!r}, which is not in {self.ring.source} "
                f"(it has {', '.join(self.ring.ids)}); add that key after the current one"
            )
        data = payload.data
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], kid.encode())
        except InvalidTag:
            raise PayloadKeyError(
                f"a payload encrypted with key id {kid!r} does not decrypt with the key of that id in "
                f"{self.ring.source}: the key is wrong, or the payload was altered"
            ) from None
        return Payload.FromString(plain)


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """Pydantic's payload converter, built once per process.

    Temporal's workflow worker builds a data converter, and with it a new payload converter, twice
    for every workflow activation (to give payloads their command's context). Pydantic's converter
    keeps nothing but a cache of type adapters and takes no serialization context (its
    ``with_context`` hands back the same instance), so every build returns the one instance, cache
    warm. Building them anew was ~7% of a worker's CPU over a save's lifecycle."""

    _shared: ClassVar[SharedPydanticPayloadConverter | None] = None

    def __new__(cls) -> SharedPydanticPayloadConverter:
        if cls._shared is None:
            shared = super().__new__(cls)
            PydanticPayloadConverter.__init__(shared)
            cls._shared = shared
        return cls._shared

    def __init__(self) -> None:
        """Everything was set up once, in ``__new__``."""


def converter_for(ring: KeyRing | None) -> DataConverter:
    """The pydantic converter, with the codec and encoded failure messages when there are keys."""
    shared = dataclasses.replace(pydantic_data_converter, payload_converter_class=SharedPydanticPayloadConverter)
    if ring is None:
        return shared
    return dataclasses.replace(
        shared,
        payload_codec=EncryptionCodec(ring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def data_converter(settings: Settings) -> DataConverter:
    """The data converter of every client and worker this project makes (see the module docstring)."""
    return converter_for(key_ring(settings))


def _payloads_in(message: Message, found: list[Payload]) -> None:
    """Every Payload inside ``message`` (any depth: inputs, results, failures, headers, summaries)."""
    for fd, value in message.ListFields():
        if fd.message_type is None:
            continue
        if fd.message_type.GetOptions().map_entry:
            value_fd = fd.message_type.fields_by_name["value"]
            items = list(value.values()) if value_fd.message_type is not None else []
        elif fd.is_repeated:
            items = list(value)
        else:
            items = [value]
        for item in items:
            if isinstance(item, Payload):
                found.append(item)
            else:
                _payloads_in(item, found)


async def decode_history(history: WorkflowHistory, codec: PayloadCodec) -> WorkflowHistory:
    """A copy of ``history`` with every encrypted payload decrypted (plaintext ones left as they are).

    For reading an archived or fetched history as people may (``saves`` keeps histories encrypted).
    """
    events = [HistoryEvent.FromString(e.SerializeToString()) for e in history.events]
    found: list[Payload] = []
    for event in events:
        _payloads_in(event, found)
    for payload, clear in zip(found, await codec.decode(found), strict=True):
        if clear is not payload:
            payload.CopyFrom(clear)
    return WorkflowHistory(history.workflow_id, events)
