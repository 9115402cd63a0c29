"""Signed records: every agency signs what it publishes, the hub signs what it emits.

The embedded broker has no authentication (see docs/BROKER.md), so the hub proves who sent a
record itself (ARCHITECTURE.md, principle 2). Each record carries three Kafka headers:

- ``nrm-sig``: the 64-byte Ed25519 signature, raw;
- ``nrm-key-id``: the id of the signing key (UTF-8), looked up in the directory;
- ``nrm-ts``: when it was signed, milliseconds since the epoch, canonical ASCII decimal.

The signature covers ``canonical_bytes(topic, key, value, timestamp_ms)``. Because the topic is
signed, a record copied into another agency's outbox (or another agency's inbox, for the
hub's signatures) no longer verifies. docs/SIGNING.md is the reference for other languages.

This module is pure: bytes in, bytes out, no Kafka client. Ingest, the gateway and the Python
client call it; a failure is a ``SignatureError`` whose ``reason`` is the dead letter reason.
"""

from __future__ import annotations

import struct
import time
from base64 import b64decode, b64encode
from binascii import Error as Base64Error
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from hub.contracts.enums import DeadLetterReason
from hub.rules.directory import Agency, SigningKey
from hub.trust.agency_keys import load_private_key

SIGNATURE_HEADER = "nrm-sig"
KEY_ID_HEADER = "nrm-key-id"
TIMESTAMP_HEADER = "nrm-ts"
SIGNATURE_HEADERS = frozenset({SIGNATURE_HEADER, KEY_ID_HEADER, TIMESTAMP_HEADER})

DOMAIN = b"nrm-hub/v1\x00"
"""First bytes of every signed message: a signature made for anything else never verifies."""

SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 32
MAX_KEY_ID_BYTES = 64
MAX_TIMESTAMP_DIGITS = 15  # 10**15 ms is the year 33658: longer is garbage, not a time.
DEFAULT_HUB_KEY_ID = "hub-2026-1"

_NULL = -1  # Kafka's own encoding of a null key or value: length -1.
_TIMESTAMP = struct.Struct(">Q")
_LENGTH = struct.Struct(">i")
_MAX_CACHED_KEYS = 4096

Header = tuple[str, bytes]
"""One Kafka header as aiokafka takes it: (name, value)."""

ReceivedHeaders = Sequence[tuple[str, bytes | None]] | None
"""Headers as a consumer hands them over (a null header value is possible on the wire)."""


class SignatureError(Exception):
    """A record whose signature does not prove its sender; ``reason`` is the dead letter's."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class SignaturePolicy:
    """What verification accepts.

    ``past_window`` / ``future_window``: how far before / after ``now`` a signature timestamp
    may be (None: unbounded). The past window must cover the longest delay between publishing
    and the hub (re)reading a record, e.g. reprocessing after a crash (docs/SIGNING.md); the
    future window absorbs clock skew between agency and hub.

    ``enabled=False`` skips verification entirely. It exists for the pipeline benchmark, to
    measure what signatures cost; never run the hub like that (anyone could publish as anyone).
    """

    enabled: bool = True
    past_window: timedelta | None = timedelta(hours=24)
    future_window: timedelta | None = timedelta(minutes=5)


INGEST_POLICY = SignaturePolicy()
"""The hub's default for records read from agency outboxes."""

RECIPIENT_POLICY = SignaturePolicy(past_window=None)
"""The default for recipients of hub records: an inbox may be read days after delivery, so
only the future window applies (recipients de-duplicate by event id, not by time)."""


@dataclass(frozen=True)
class SignatureHeaders:
    """The three signature headers of a record, parsed and checked for shape."""

    signature: bytes
    key_id: str
    timestamp_ms: int


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
    private_key: Ed25519PrivateKey,
    key_id: str,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    *,
    timestamp_ms: int | None = None,
) -> list[Header]:
    """Sign a record; return the three headers to attach to it (timestamp: now by default)."""
    stamp = now_ms() if timestamp_ms is None else timestamp_ms
    if stamp < 0 or len(str(stamp)) > MAX_TIMESTAMP_DIGITS:
        raise ValueError(f"timestamp out of range: {stamp}")
    key_id_bytes = key_id.encode()
    if not key_id_bytes or len(key_id_bytes) > MAX_KEY_ID_BYTES:
        raise ValueError(f"key id must be 1 to {MAX_KEY_ID_BYTES} bytes: {key_id!r}")
    signature = private_key.sign(canonical_bytes(topic, key, value, stamp))
    return [
        (SIGNATURE_HEADER, signature),
        (KEY_ID_HEADER, key_id_bytes),
        (TIMESTAMP_HEADER, str(stamp).encode("ascii")),
    ]


def without_signature(headers: ReceivedHeaders) -> list[tuple[str, bytes | None]]:
    """``headers`` minus the signature headers, e.g. before re-signing a forwarded record."""
    return [(name, value) for name, value in headers or () if name not in SIGNATURE_HEADERS]


def parse_signature_headers(headers: ReceivedHeaders) -> SignatureHeaders:
    """The signature headers of a record; BAD_SIGNATURE if one is missing, repeated or malformed.

    Never raises anything but ``SignatureError``, whatever the headers hold.
    """
    found: dict[str, bytes] = {}
    try:
        for name, value in headers or ():
            if name not in SIGNATURE_HEADERS:
                continue
            if name in found:
                raise _bad(f"header {name} appears more than once")
            if not isinstance(value, bytes):
                raise _bad(f"header {name} has no bytes value")
            found[name] = value
    except (TypeError, ValueError) as exc:
        raise _bad(f"unreadable headers ({type(exc).__name__})") from None
    missing = SIGNATURE_HEADERS - found.keys()
    if missing:
        raise _bad(f"missing header(s) {', '.join(sorted(missing))}")
    signature = found[SIGNATURE_HEADER]
    if len(signature) != SIGNATURE_SIZE:
        raise _bad(f"{SIGNATURE_HEADER} is {len(signature)} bytes, not {SIGNATURE_SIZE}")
    raw_key_id = found[KEY_ID_HEADER]
    if not raw_key_id or len(raw_key_id) > MAX_KEY_ID_BYTES:
        raise _bad(f"{KEY_ID_HEADER} must be 1 to {MAX_KEY_ID_BYTES} bytes")
    try:
        key_id = raw_key_id.decode()
    except UnicodeDecodeError:
        raise _bad(f"{KEY_ID_HEADER} is not UTF-8") from None
    raw_ts = found[TIMESTAMP_HEADER]
    # bytes.isdigit is ASCII-only; int() alone would also take " 12", "+12" and "1_2".
    canonical = raw_ts.isdigit() and (raw_ts == b"0" or not raw_ts.startswith(b"0"))
    if not canonical or len(raw_ts) > MAX_TIMESTAMP_DIGITS:
        raise _bad(f"{TIMESTAMP_HEADER} is not a canonical decimal number of milliseconds")
    return SignatureHeaders(signature=signature, key_id=key_id, timestamp_ms=int(raw_ts))


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    """Parse a raw 32-byte Ed25519 public key written in base64 (ValueError otherwise)."""
    try:
        raw = b64decode(text, validate=True)
    except (Base64Error, ValueError):
        raise ValueError("public key is not base64") from None
    if len(raw) != PUBLIC_KEY_SIZE:
        raise ValueError(f"public key is {len(raw)} bytes, not {PUBLIC_KEY_SIZE}")
    return Ed25519PublicKey.from_public_bytes(raw)


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

    @classmethod
    def for_agency(cls, agency: Agency, private_key: Ed25519PrivateKey) -> RecordSigner:
        """A signer for ``agency``, using the key id its directory entry gives this key.

        ValueError when the directory does not list the key: records would be dead letters.
        """
        mine = public_key_b64(private_key)
        for signing_key in agency.signing_keys:
            if signing_key.public_key == mine:
                return cls(private_key, signing_key.key_id)
        raise ValueError(f"this private key is not a signing key of {agency.id} in the directory")

    def sign(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        timestamp_ms: int | None = None,
    ) -> list[Header]:
        """The signature headers for a record (see ``sign_record``)."""
        return sign_record(
            self.private_key, self.key_id, topic, key, value, timestamp_ms=timestamp_ms
        )


class HubSigner(RecordSigner):
    """The hub's signer: inbox deliveries, dead letters and audit entries carry its signature."""

    @classmethod
    def from_pem(cls, path: Path, key_id: str = DEFAULT_HUB_KEY_ID) -> HubSigner:
        """Load the hub's private key (``HUB_SIGNING_KEY_PATH``); KeyFileError if unusable."""
        return cls(load_private_key(path), key_id)


@dataclass(frozen=True)
class _ResolvedKey:
    public_key: Ed25519PublicKey
    valid_from_ms: int | None
    valid_until_ms: int | None

    def valid_at(self, timestamp_ms: int) -> bool:
        # valid_from inclusive, valid_until exclusive: back-to-back keys never overlap.
        return (self.valid_from_ms is None or timestamp_ms >= self.valid_from_ms) and (
            self.valid_until_ms is None or timestamp_ms < self.valid_until_ms
        )


class RecordVerifier:
    """Verifies records against the directory's keys, caching parsed public keys.

    The cache is keyed by the directory's ``SigningKey`` value (key id, public key, validity),
    not by agency and key id alone: when the directory changes a key at runtime, the new value
    is a new entry and the old one is never used again. One verifier lives as long as the
    process; it is not thread-safe but needs no lock under asyncio.
    """

    def __init__(self, policy: SignaturePolicy = INGEST_POLICY) -> None:
        self.policy = policy
        self._past_ms = _window_ms(policy.past_window)
        self._future_ms = _window_ms(policy.future_window)
        self._keys: dict[SigningKey, _ResolvedKey | None] = {}

    def verify_record(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: ReceivedHeaders,
        agency: Agency,
        now: datetime | None = None,
    ) -> str | None:
        """Prove that ``agency`` signed this record; return the key id it used.

        ``agency`` is the owner of the outbox ``topic`` (the caller derives it from the topic,
        never from the payload). Raises ``SignatureError``: BAD_SIGNATURE for a missing or
        malformed header, a key id unknown for this agency or not valid at the signature's
        timestamp, or a signature that does not verify; STALE_SIGNATURE for a genuine
        signature whose timestamp is outside the policy's window around ``now``. Returns None
        without checking anything when the policy is disabled (benchmarks only).
        """
        if not self.policy.enabled:
            return None
        parsed = parse_signature_headers(headers)
        candidates = [k for k in agency.signing_keys if k.key_id == parsed.key_id]
        if not candidates:
            raise _bad(f"key id {parsed.key_id!r} is not a key of {agency.id}")
        message = _message(topic, key, value, parsed.timestamp_ms)
        problem = f"key {parsed.key_id!r} of {agency.id} is not valid at {parsed.timestamp_ms} ms"
        for signing_key in candidates:
            resolved = self._resolve(signing_key)
            if resolved is None:
                problem = f"key {parsed.key_id!r} of {agency.id} is malformed in the directory"
            elif resolved.valid_at(parsed.timestamp_ms):
                if _verifies(resolved.public_key, parsed.signature, message):
                    self._check_window(parsed.timestamp_ms, now)
                    return parsed.key_id
                problem = f"signature does not verify with key {parsed.key_id!r} of {agency.id}"
        raise _bad(problem)

    def _resolve(self, signing_key: SigningKey) -> _ResolvedKey | None:
        try:
            return self._keys[signing_key]
        except KeyError:
            pass
        if len(self._keys) >= _MAX_CACHED_KEYS:
            self._keys.clear()
        try:
            resolved: _ResolvedKey | None = _ResolvedKey(
                public_key=public_key_from_b64(signing_key.public_key),
                valid_from_ms=_optional_ms(signing_key.valid_from),
                valid_until_ms=_optional_ms(signing_key.valid_until),
            )
        except ValueError:
            # A malformed directory key verifies nothing; it must not stop the stream.
            resolved = None
        self._keys[signing_key] = resolved
        return resolved

    def _check_window(self, timestamp_ms: int, now: datetime | None) -> None:
        check_window(timestamp_ms, now, past_ms=self._past_ms, future_ms=self._future_ms)


def check_window(
    timestamp_ms: int, now: datetime | None, *, past_ms: int | None, future_ms: int | None
) -> None:
    """STALE_SIGNATURE unless ``now - past_ms <= timestamp_ms <= now + future_ms``."""
    current = now_ms() if now is None else to_ms(now)
    if past_ms is not None and timestamp_ms < current - past_ms:
        raise SignatureError(
            DeadLetterReason.STALE_SIGNATURE,
            f"signed {current - timestamp_ms} ms ago, more than the {past_ms} ms allowed",
        )
    if future_ms is not None and timestamp_ms > current + future_ms:
        raise SignatureError(
            DeadLetterReason.STALE_SIGNATURE,
            f"signed {timestamp_ms - current} ms in the future, more than the {future_ms} ms "
            "allowed",
        )


HubPublicKey = Ed25519PublicKey | str
"""The hub's public key, parsed or as the base64 text of ``hub-public-key.txt``."""


def verify_from_hub(
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: ReceivedHeaders,
    hub_public_key: HubPublicKey | Sequence[HubPublicKey],
    *,
    policy: SignaturePolicy = RECIPIENT_POLICY,
    now: datetime | None = None,
) -> str | None:
    """Prove that the hub emitted this record (for recipients); return the hub's key id.

    ``hub_public_key`` is one key, or several while the hub rotates its key (any of them may
    verify). Raises ``SignatureError`` like ``RecordVerifier.verify_record``; the default
    policy has no past window, since an inbox may be read long after delivery. A malformed
    ``hub_public_key`` is the caller's configuration error: ValueError.
    """
    if not policy.enabled:
        return None
    parsed = parse_signature_headers(headers)
    keys = [hub_public_key] if isinstance(hub_public_key, HubPublicKey) else hub_public_key
    message = _message(topic, key, value, parsed.timestamp_ms)
    for candidate in keys:
        public = _cached_public_key(candidate) if isinstance(candidate, str) else candidate
        if _verifies(public, parsed.signature, message):
            check_window(
                parsed.timestamp_ms,
                now,
                past_ms=_window_ms(policy.past_window),
                future_ms=_window_ms(policy.future_window),
            )
            return parsed.key_id
    raise _bad("signature does not verify with the hub's public key")


@lru_cache(maxsize=16)
def _cached_public_key(text: str) -> Ed25519PublicKey:
    return public_key_from_b64(text.strip())


def _message(topic: str, key: bytes | None, value: bytes | None, timestamp_ms: int) -> bytes:
    try:
        return canonical_bytes(topic, key, value, timestamp_ms)
    except (UnicodeEncodeError, TypeError, struct.error) as exc:
        raise _bad(f"record cannot be canonicalised ({type(exc).__name__})") from None


def _verifies(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _bad(detail: str) -> SignatureError:
    return SignatureError(DeadLetterReason.BAD_SIGNATURE, detail)


def _window_ms(window: timedelta | None) -> int | None:
    return None if window is None else window // _ONE_MS


def _optional_ms(instant: datetime | None) -> int | None:
    return None if instant is None else to_ms(instant)
