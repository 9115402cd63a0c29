"""The directory authority: the key that proves every change to the agency directory.

The directory carries the agencies' public keys, so whoever can change it can publish as any
agency. A record on ``nrm.directory`` is therefore applied only when it carries the signature
headers of ``hub.trust.signing`` (over the same canonical bytes as any record) made by the
directory authority's current key. The hub is configured with the authority's first public key
(``HUB_DIRECTORY_AUTHORITY_PUBLIC_KEY_FILE``); the topic itself carries its rotations.

Rotation: a ``DirectoryEntry`` whose ``agency_id`` is ``directory-authority`` (never an agency)
replaces the authority's keys with its ``signing_keys``. Like any directory change it must be
signed by a current authority key, so the old key hands over to the new one and a key nobody
handed over to is never believed. Its record key is ``directory-authority/<first new key id>``
so that log compaction keeps every step of the chain (each worker replays the topic from the
configured first key). docs/SIGNING.md, "The directory authority", is the reference.

The decision is pure (bytes and values in, a decision out); the follower applies it, logs and
counts refusals. Only ``configured_authority`` reads a file: the root key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.contracts.hub_records import (
    DirectoryEntry,
)
from hub.contracts.topics import DIRECTORY
from hub.rules.directory import Directory, SigningKey, apply_entry
from hub.runtime.settings import HubSettings
from hub.trust.ed25519 import verifies
from hub.trust.signing import (
    SIGNATURE_HEADERS,
    Header,
    ReceivedHeaders,
    RecordSigner,
    canonical_bytes,
    public_key_b64,
    public_key_from_b64,
)
from hub.trust.verification import SignatureError, parse_signature_headers

AUTHORITY_ID = "directory-authority"
"""The reserved ``agency_id`` of a rotation entry: the directory authority, never an agency."""

DEFAULT_AUTHORITY_KEY_ID = "directory-authority-2026-1"
AUTHORITY_PUBLIC_KEY_FILE = "directory-authority-public-key.txt"
"""The root public key's file in the configuration folder (the default)."""


class DirectoryRefusal(StrEnum):
    """Why a directory record was not applied (the ``reason`` of the log line and metric)."""

    UNSIGNED = "UNSIGNED"
    """No signature header at all."""
    MALFORMED_SIGNATURE = "MALFORMED_SIGNATURE"
    """Signature headers missing, repeated or malformed."""
    UNKNOWN_KEY = "UNKNOWN_KEY"
    """Signed under a key id that is not a current authority key (an agency's, a retired one)."""
    BAD_SIGNATURE = "BAD_SIGNATURE"
    """The signature does not verify with the authority key of that id (tampered, forged)."""
    KEY_MISMATCH = "KEY_MISMATCH"
    """The record key does not name the agency (or the rotation) the entry describes."""
    REPLAYED = "REPLAYED"
    """Signed no later than the change already applied under the same record key: an older
    genuine entry written again (e.g. to undo a key revocation)."""
    BAD_ROTATION = "BAD_ROTATION"
    """A signed rotation that gives no usable key (none, malformed, or a removal)."""


@dataclass(frozen=True)
class DirectoryAuthority:
    """The authority's current public keys (any of them may sign a directory change)."""

    keys: tuple[SigningKey, ...]

    @classmethod
    def single(
        cls, public_key_b64: str, key_id: str = DEFAULT_AUTHORITY_KEY_ID
    ) -> DirectoryAuthority:
        """The authority with one key (the configured root); ValueError if it does not parse."""
        public_key_from_b64(public_key_b64.strip())
        return cls((SigningKey(key_id=key_id, public_key=public_key_b64.strip()),))


@dataclass(frozen=True)
class DirectoryDecision:
    """What to do with one directory record: apply it (``refusal`` None) or refuse it."""

    refusal: DirectoryRefusal | None
    detail: str = ""
    rotation: DirectoryAuthority | None = None
    signed_at_ms: int | None = None
    """The signature's timestamp, when the record is accepted."""
    """The authority's new keys when the record is an accepted rotation."""

    @property
    def accepted(self) -> bool:
        """True when the record is proven by the authority."""
        return self.refusal is None


def record_key_for(entry: DirectoryEntry) -> bytes:
    """The record key a directory entry must be published under (and is signed with)."""
    if entry.agency_id == AUTHORITY_ID:
        first = entry.signing_keys[0].key_id if entry.signing_keys else ""
        return f"{AUTHORITY_ID}/{first}".encode()
    return entry.agency_id.encode()


def decide_directory_record(
    authority: DirectoryAuthority,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: ReceivedHeaders,
    entry: DirectoryEntry,
    applied_ms: int | None = None,
) -> DirectoryDecision:
    """Is this directory record (``entry`` decoded from ``value``) proven by ``authority``?

    The signature covers topic, key, value and timestamp: a signed entry copied under another
    record key, or changed by one byte, no longer verifies. No time window applies: every
    worker replays the whole topic at start, and an old change stays valid until a newer one.
    ``applied_ms`` is the signature timestamp of the change last applied under the same record
    key: a record signed no later than it is an old entry written again (REPLAYED).
    """
    names = {name for name, _ in headers or ()}
    if not names & SIGNATURE_HEADERS:
        return DirectoryDecision(DirectoryRefusal.UNSIGNED, "no signature headers")
    try:
        parsed = parse_signature_headers(headers)
    except SignatureError as exc:
        return DirectoryDecision(DirectoryRefusal.MALFORMED_SIGNATURE, exc.detail)
    candidates = [k for k in authority.keys if k.key_id == parsed.key_id]
    if not candidates:
        return DirectoryDecision(
            DirectoryRefusal.UNKNOWN_KEY,
            f"key id {parsed.key_id!r} is not a current directory-authority key",
        )
    try:
        message = canonical_bytes(topic, key, value, parsed.timestamp_ms)
    except (UnicodeEncodeError, TypeError, ValueError):
        return DirectoryDecision(DirectoryRefusal.MALFORMED_SIGNATURE, "record not canonical")
    if not any(_verifies(k, parsed.signature, message) for k in candidates):
        return DirectoryDecision(
            DirectoryRefusal.BAD_SIGNATURE,
            f"signature does not verify with authority key {parsed.key_id!r}",
        )
    if key != record_key_for(entry):
        return DirectoryDecision(
            DirectoryRefusal.KEY_MISMATCH,
            f"record key {key!r} is not {record_key_for(entry)!r}",
        )
    if applied_ms is not None and parsed.timestamp_ms <= applied_ms:
        return DirectoryDecision(
            DirectoryRefusal.REPLAYED,
            f"signed at {parsed.timestamp_ms} ms, not after the change applied ({applied_ms} ms)",
        )
    if entry.agency_id != AUTHORITY_ID:
        return DirectoryDecision(None, signed_at_ms=parsed.timestamp_ms)
    rotation = _rotation(entry)
    if rotation.refusal is not None:
        return rotation
    return replace(rotation, signed_at_ms=parsed.timestamp_ms)


def _rotation(entry: DirectoryEntry) -> DirectoryDecision:
    if entry.removed or not entry.signing_keys:
        return DirectoryDecision(DirectoryRefusal.BAD_ROTATION, "a rotation must give a key")
    keys = tuple(SigningKey(key_id=k.key_id, public_key=k.public_key) for k in entry.signing_keys)
    try:
        for signing_key in keys:
            public_key_from_b64(signing_key.public_key)
    except ValueError as exc:
        return DirectoryDecision(DirectoryRefusal.BAD_ROTATION, str(exc))
    ids = ", ".join(k.key_id for k in keys)
    return DirectoryDecision(None, f"authority keys now {ids}", DirectoryAuthority(keys))


def _verifies(signing_key: SigningKey, signature: bytes, message: bytes) -> bool:
    try:
        return verifies(public_key_from_b64(signing_key.public_key), signature, message)
    except ValueError:
        return False


@dataclass
class SignedDirectory:
    """A directory snapshot with the authority that may change it, fed one record at a time.

    ``refused`` counts refusals by reason (the follower's metric). Not thread-safe; one lives
    in each reader of ``nrm.directory`` (the worker's follower, the observatory export).
    """

    directory: Directory
    authority: DirectoryAuthority
    refused: dict[DirectoryRefusal, int] = field(default_factory=dict)
    applied_ms: dict[bytes, int] = field(default_factory=dict)
    """The signature timestamp of the last change applied, per record key."""

    def feed(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: ReceivedHeaders,
        entry: DirectoryEntry,
    ) -> DirectoryDecision:
        """Apply ``entry`` if the authority proves it; return the decision either way."""
        last = self.applied_ms.get(key) if key is not None else None
        decision = decide_directory_record(
            self.authority, topic, key, value, headers, entry, applied_ms=last
        )
        if decision.refusal is not None:
            self.refused[decision.refusal] = self.refused.get(decision.refusal, 0) + 1
            return decision
        if key is not None and decision.signed_at_ms is not None:
            self.applied_ms[key] = decision.signed_at_ms
        if decision.rotation is not None:
            self.authority = decision.rotation
        else:
            self.directory = apply_entry(self.directory, entry)
        return decision


class AuthorityConfigError(ValueError):
    """The configured authority public key cannot be read or parsed."""


def configured_authority(settings: HubSettings) -> DirectoryAuthority:
    """The authority's root key from the settings (AuthorityConfigError if unusable)."""
    path = settings.directory_authority_public_key_file or (
        settings.config_dir / AUTHORITY_PUBLIC_KEY_FILE
    )
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthorityConfigError(
            f"{path} : clé de l'autorité de l'annuaire illisible ({exc})"
        ) from None
    try:
        return DirectoryAuthority.single(text, settings.directory_authority_key_id)
    except ValueError as exc:
        raise AuthorityConfigError(f"{path}: {exc}") from None


def authority_signer(private_key: Ed25519PrivateKey, authority: DirectoryAuthority) -> RecordSigner:
    """The signer of ``private_key`` under the key id ``authority`` gives its public half;
    ValueError if it is not a current authority key (its changes would be refused)."""
    mine = public_key_b64(private_key)
    for key in authority.keys:
        if key.public_key == mine:
            return RecordSigner(private_key, key.key_id)
    ids = ", ".join(k.key_id for k in authority.keys)
    raise ValueError(
        f"cette clé privée n'est pas la clé actuelle de l'autorité de l'annuaire ({ids})"
    )


def sign_directory_record(
    signer: RecordSigner, entry: DirectoryEntry, value: bytes, *, topic: str = DIRECTORY.name
) -> tuple[bytes, list[Header]]:
    """The record key and signature headers to publish ``entry`` (encoded as ``value``) with."""
    key = record_key_for(entry)
    return key, signer.sign(topic, key, value)
