"""Signed records: every agency signs what it publishes, the hub signs what it emits.

The embedded broker has no authentication (see docs/BROKER.md), so the hub proves who sent a
record itself (ARCHITECTURE.md, principle 2). Each record carries three Kafka headers:

- ``nrm-sig``: the 64-byte Ed25519 signature, raw;
- ``nrm-key-id``: the id of the signing key (UTF-8), looked up in the directory;
- ``nrm-ts``: when it was signed, milliseconds since the epoch, canonical ASCII decimal.

The signature covers ``canonical_bytes(topic, key, value, timestamp_ms)``. Because the topic is
signed, a record copied into another agency's outbox (or another agency's inbox, for the
hub's signatures) no longer verifies. docs/SIGNING.md is the reference for other languages.

This module and ``hub.trust.verification`` are pure: bytes in, bytes out, no Kafka client.
Here: the format and how a record is signed; there: how a signature is checked against the
directory's keys (or the hub's), where a failure is a ``SignatureError`` whose ``reason`` is
the dead letter reason.
"""

from __future__ import annotations

import struct
import time
from base64 import b64decode, b64encode
from binascii import Error as Base64Error
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from hub.rules.directory import Agency
from hub.trust.agency_keys import load_private_key
from hub.trust.ed25519 import PublicKey, SecretKey, public_key, secret_key, sign

SIGNATURE_HEADER = "nrm-sig"
KEY_ID_HEADER = "nrm-key-id"
TIMESTAMP_HEADER = "nrm-ts"
SIGNATURE_HEADERS = frozenset({SIGNATURE_HEADER, KEY_ID_HEADER, TIMESTAMP_HEADER})

DOMAIN = b"nrm-hub/v1\x00"
"""First bytes of every signed message: a signature made for anything else never verifies."""

MAX_KEY_ID_BYTES = 64
MAX_TIMESTAMP_DIGITS = 15  # 10**15 ms is the year 33658: longer is garbage, not a time.
DEFAULT_HUB_KEY_ID = "hub-2026-1"

_NULL = -1  # Kafka's own encoding of a null key or value: length -1.
_TIMESTAMP = struct.Struct(">Q")
_LENGTH = struct.Struct(">i")

Header = tuple[str, bytes]
"""One Kafka header as aiokafka takes it: (name, value)."""

ReceivedHeaders = Sequence[tuple[str, bytes | None]] | None
"""Headers as a consumer hands them over (a null header value is possible on the wire)."""


def now_ms() -> int:
    """The current time in milliseconds since the epoch (the unit of ``nrm-ts``)."""
    return time.time_ns() // 1_000_000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def to_ms(instant: datetime) -> int:
    """``instant`` in milliseconds since the epoch (a naive datetime is taken as UTC)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return (instant - _EPOCH) // _ONE_MS


def canonical_bytes(topic: str, key: bytes | None, value: bytes | None, timestamp_ms: int) -> bytes:
    """The exact bytes a record's signature covers.

    ``DOMAIN || u64 timestamp_ms || i32 len(topic) || topic UTF-8 || i32 len(key) || key
    || i32 len(value) || value``, integers big-endian; a null key or value has length -1 and
    no bytes (so null and empty differ). Lengths make the encoding unambiguous: no two
    different (topic, key, value, timestamp) give the same bytes.
    """
    topic_bytes = topic.encode()
    return b"".join(
        (
            DOMAIN,
            _TIMESTAMP.pack(timestamp_ms),
            _LENGTH.pack(len(topic_bytes)),
            topic_bytes,
            _LENGTH.pack(_NULL if key is None else len(key)),
            key or b"",
            _LENGTH.pack(_NULL if value is None else len(value)),
            value or b"",
        )
    )


def sign_record(
    private_key: Ed25519PrivateKey | SecretKey,
    key_id: str,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    *,
    timestamp_ms: int | None = None,
) -> list[Header]:
    """Sign a record; return the three headers to attach to it (timestamp: now by default).
    A signer signing many records passes its ``SecretKey``, made once."""
    stamp = now_ms() if timestamp_ms is None else timestamp_ms
    if stamp < 0 or len(str(stamp)) > MAX_TIMESTAMP_DIGITS:
        raise ValueError(f"timestamp out of range: {stamp}")
    key_id_bytes = key_id.encode()
    if not key_id_bytes or len(key_id_bytes) > MAX_KEY_ID_BYTES:
        raise ValueError(f"key id must be 1 to {MAX_KEY_ID_BYTES} bytes: {key_id!r}")
    secret = private_key if isinstance(private_key, SecretKey) else secret_key(private_key)
    signature = sign(secret, canonical_bytes(topic, key, value, stamp))
    return [
        (SIGNATURE_HEADER, signature),
        (KEY_ID_HEADER, key_id_bytes),
        (TIMESTAMP_HEADER, str(stamp).encode("ascii")),
    ]


def without_signature(headers: ReceivedHeaders) -> list[tuple[str, bytes | None]]:
    """``headers`` minus the signature headers, e.g. before re-signing a forwarded record."""
    return [(name, value) for name, value in headers or () if name not in SIGNATURE_HEADERS]


def public_key_from_b64(text: str) -> PublicKey:
    """Parse a raw 32-byte Ed25519 public key written in base64; ValueError when it is not
    base64, not 32 bytes or not a valid point (``hub.trust.ed25519.public_key``)."""
    try:
        raw = b64decode(text, validate=True)
    except (Base64Error, ValueError):
        raise ValueError("la clé publique n'est pas en base64") from None
    return public_key(raw)


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The base64 raw public key of ``key``: the form the directory and hub-public-key.txt use."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64encode(raw).decode("ascii")


class RecordSigner:
    """Signs records with one private key under one key id (an agency, or the hub)."""

    def __init__(self, private_key: Ed25519PrivateKey, key_id: str) -> None:
        self.private_key = private_key
        self.key_id = key_id
        self.public_key_b64 = public_key_b64(private_key)
        self._secret = secret_key(private_key)

    @classmethod
    def for_agency(cls, agency: Agency, private_key: Ed25519PrivateKey) -> RecordSigner:
        """A signer for ``agency``, using the key id its directory entry gives this key.

        ValueError when the directory does not list the key: records would be dead letters.
        """
        mine = public_key_b64(private_key)
        for signing_key in agency.signing_keys:
            if signing_key.public_key == mine:
                return cls(private_key, signing_key.key_id)
        raise ValueError(
            f"cette clé privée n'est pas une clé de signature de {agency.id} dans l'annuaire"
        )

    def sign(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        timestamp_ms: int | None = None,
    ) -> list[Header]:
        """The signature headers for a record (see ``sign_record``)."""
        return sign_record(self._secret, self.key_id, topic, key, value, timestamp_ms=timestamp_ms)

    def sign_bytes(self, message: bytes) -> bytes:
        """The signature of ``message`` as it is (a batch root message, already framed)."""
        return sign(self._secret, message)


class HubSigner(RecordSigner):
    """The hub's signer: inbox deliveries, dead letters and audit entries carry its signature."""

    @classmethod
    def from_pem(cls, path: Path, key_id: str = DEFAULT_HUB_KEY_ID) -> HubSigner:
        """Load the hub's private key (``HUB_SIGNING_KEY_PATH``); KeyFileError if unusable."""
        return cls(load_private_key(path), key_id)
