"""Signature verification: proving who sent a record, from the headers ``hub.trust.signing``
defines. Ingest checks agency records against the directory's keys (``RecordVerifier``);
recipients check the hub's records against its public key (``verify_from_hub``). A failure is
a ``SignatureError`` whose ``reason`` is the dead letter reason.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.contracts.enums import DeadLetterReason
from hub.rules.directory import Agency, SigningKey
from hub.trust.ed25519 import SIGNATURE_SIZE, PublicKey, public_key, verifies
from hub.trust.signing import (
    KEY_ID_HEADER,
    MAX_KEY_ID_BYTES,
    MAX_TIMESTAMP_DIGITS,
    SIGNATURE_HEADER,
    SIGNATURE_HEADERS,
    TIMESTAMP_HEADER,
    ReceivedHeaders,
    canonical_bytes,
    now_ms,
    public_key_from_b64,
    to_ms,
)

_MAX_CACHED_KEYS = 4096
_ONE_MS = timedelta(milliseconds=1)


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


@dataclass(frozen=True)
class _ResolvedKey:
    public_key: PublicKey
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
                if verifies(resolved.public_key, parsed.signature, message):
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
        public = (
            parsed_public_key(candidate) if isinstance(candidate, str) else public_key(candidate)
        )
        if verifies(public, parsed.signature, message):
            check_window(
                parsed.timestamp_ms,
                now,
                past_ms=_window_ms(policy.past_window),
                future_ms=_window_ms(policy.future_window),
            )
            return parsed.key_id
    raise _bad("signature does not verify with the hub's public key")


@lru_cache(maxsize=16)
def parsed_public_key(text: str) -> PublicKey:
    """A configured public key (the hub's, an operator's) in base64 text, parsed once for the
    records it checks; ValueError when it is not a key (``public_key_from_b64``)."""
    return public_key_from_b64(text.strip())


def _message(topic: str, key: bytes | None, value: bytes | None, timestamp_ms: int) -> bytes:
    try:
        return canonical_bytes(topic, key, value, timestamp_ms)
    except (UnicodeEncodeError, TypeError, struct.error) as exc:
        raise _bad(f"record cannot be canonicalised ({type(exc).__name__})") from None


def _bad(detail: str) -> SignatureError:
    return SignatureError(DeadLetterReason.BAD_SIGNATURE, detail)


def _window_ms(window: timedelta | None) -> int | None:
    return None if window is None else window // _ONE_MS


def _optional_ms(instant: datetime | None) -> int | None:
    return None if instant is None else to_ms(instant)
