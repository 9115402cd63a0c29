"""Per-case encryption keys for the personal data inside audit entries, and the cipher.

Personal data never enters the audit log in clear: it is encrypted under a key that belongs
to one case, and the hash chain covers the ciphertext. Destroying the case's key (GDPR
art. 17 erasure) makes that data unreadable forever while every hash still verifies.

Key storage is a small Protocol, ``KeyStore``: ``FileKeyStore`` (one 0600 file per case under
the hub's data directory) is the default, ``MemoryKeyStore`` serves tests and benchmarks, and
production plugs an HSM, a cloud KMS or Vault's transit engine behind the same three methods
(see docs/AUDIT.md). A destroyed case keeps a tombstone, so no later call can silently mint a
fresh key for it.

The cipher is AES-256-GCM-SIV (nonce-misuse resistant). Its nonce is derived from the entry
(case, seq, event id, action), never random: a routing worker that re-processes an event after
a crash must produce a byte-identical entry, or the redelivery would look like a fork.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV

log = structlog.get_logger(__name__)

KEYS_DIRECTORY = "audit-keys"
KEY_BITS = 256
NONCE_BYTES = 12
_NONCE_DOMAIN = b"nrm.audit.nonce.v1"
_AAD_DOMAIN = b"nrm.audit.aad.v1"
_NO_EVENT = bytes(16)


class KeyDestroyedError(LookupError):
    """The case's key was destroyed (erasure): no new personal data may be encrypted for it."""

    def __init__(self, case_id: UUID) -> None:
        super().__init__(f"the audit key of case {case_id} was destroyed (erased case)")
        self.case_id = case_id


class PayloadUnreadableError(ValueError):
    """A ciphertext that does not decrypt under its key (altered, or the wrong key)."""


class KeyStore(Protocol):
    """Where per-case audit keys live. Every implementation passes
    tests/unit/audit/test_audit_keys."""

    def get_or_create(self, case_id: UUID) -> tuple[str, bytes]:
        """The case's ``(key_id, key)``, created on first use; ``KeyDestroyedError`` if erased."""
        ...

    def get(self, key_id: str) -> bytes | None:
        """The key named ``key_id``, or ``None`` when it was destroyed or never existed."""
        ...

    def destroy(self, case_id: UUID) -> bool:
        """Destroy the case's key for good and remember the erasure; True if a key existed."""
        ...


def new_key_id(case_id: UUID) -> str:
    """A key id naming its case and its generation: ``<case uuid>.<8 hex>``."""
    return f"{case_id}.{secrets.token_hex(4)}"


def case_of_key_id(key_id: str) -> UUID | None:
    """The case a key id belongs to, or ``None`` if ``key_id`` is not one of ours."""
    case_part, _, token = key_id.partition(".")
    if len(token) != 8:
        return None
    try:
        return UUID(case_part)
    except ValueError:
        return None


class MemoryKeyStore:
    """Keys in a dict: for tests and benchmarks (a process restart loses every key)."""

    def __init__(self) -> None:
        self._keys: dict[UUID, tuple[str, bytes]] = {}
        self._destroyed: set[UUID] = set()

    def get_or_create(self, case_id: UUID) -> tuple[str, bytes]:
        """The case's ``(key_id, key)``, created on first use; ``KeyDestroyedError`` if erased."""
        if case_id in self._destroyed:
            raise KeyDestroyedError(case_id)
        found = self._keys.get(case_id)
        if found is None:
            found = (new_key_id(case_id), AESGCMSIV.generate_key(KEY_BITS))
            self._keys[case_id] = found
        return found

    def get(self, key_id: str) -> bytes | None:
        """The key named ``key_id``, or ``None`` when it was destroyed or never existed."""
        case_id = case_of_key_id(key_id)
        found = self._keys.get(case_id) if case_id else None
        return found[1] if found and found[0] == key_id else None

    def destroy(self, case_id: UUID) -> bool:
        """Forget the case's key and remember the erasure; True if a key existed."""
        self._destroyed.add(case_id)
        return self._keys.pop(case_id, None) is not None


class FileKeyStore:
    """One file per case under ``directory`` (mode 0600, directory 0700).

    ``<case>.key`` holds ``{"key_id": ..., "key": base64}``; ``<case>.erased`` is the tombstone
    an erasure leaves. Keys are created with an atomic link, so two processes racing on a new
    case end up with the same key. Destruction overwrites the file with random bytes, syncs,
    then unlinks it: on copy-on-write or wear-levelled storage an overwrite is not a proof of
    physical erasure, which is why production keeps keys in an HSM or KMS (docs/AUDIT.md).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _key_path(self, case_id: UUID) -> Path:
        return self.directory / f"{case_id}.key"

    def _tombstone_path(self, case_id: UUID) -> Path:
        return self.directory / f"{case_id}.erased"

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _read(self, case_id: UUID) -> tuple[str, bytes] | None:
        try:
            document = json.loads(self._key_path(case_id).read_text())
        except FileNotFoundError:
            return None
        return str(document["key_id"]), base64.b64decode(document["key"])

    def get_or_create(self, case_id: UUID) -> tuple[str, bytes]:
        """The case's ``(key_id, key)``, created on first use; ``KeyDestroyedError`` if erased."""
        if self._tombstone_path(case_id).exists():
            raise KeyDestroyedError(case_id)
        found = self._read(case_id)
        if found is not None:
            return found
        self._ensure_directory()
        key_id, key = new_key_id(case_id), AESGCMSIV.generate_key(KEY_BITS)
        document = json.dumps({"key_id": key_id, "key": base64.b64encode(key).decode()})
        temporary = self.directory / f".{case_id}.{secrets.token_hex(4)}.tmp"
        _write_private(temporary, document.encode())
        try:
            # link() fails if another process created the key first: theirs wins, both agree.
            os.link(temporary, self._key_path(case_id))
        except FileExistsError:
            pass
        else:
            _sync_directory(self.directory)
            log.info("audit.key_created", case_id=str(case_id), key_id=key_id)
        finally:
            temporary.unlink(missing_ok=True)
        created = self._read(case_id)
        if created is None:  # pragma: no cover - destroyed between link and read
            raise KeyDestroyedError(case_id)
        return created

    def get(self, key_id: str) -> bytes | None:
        """The key named ``key_id``, or ``None`` when it was destroyed or never existed."""
        case_id = case_of_key_id(key_id)
        if case_id is None:
            return None
        found = self._read(case_id)
        return found[1] if found and found[0] == key_id else None

    def destroy(self, case_id: UUID) -> bool:
        """Overwrite, sync and unlink the case's key file, then leave a tombstone.

        The tombstone is written first, so a crash in between can only leave an erased case
        with a key still to destroy (re-running ``destroy`` finishes the job), never a case
        that could mint a fresh key.
        """
        self._ensure_directory()
        _write_private(self._tombstone_path(case_id), b"", exclusive=False)
        path = self._key_path(case_id)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            _sync_directory(self.directory)
            return False
        with path.open("r+b") as handle:
            handle.write(secrets.token_bytes(max(size, 1)))
            handle.flush()
            os.fsync(handle.fileno())
        path.unlink()
        _sync_directory(self.directory)
        log.info("audit.key_destroyed", case_id=str(case_id))
        return True


def default_key_store(data_dir: Path) -> FileKeyStore:
    """The hub's default key store: ``<data_dir>/audit-keys/``."""
    return FileKeyStore(data_dir / KEYS_DIRECTORY)


def _write_private(path: Path, data: bytes, *, exclusive: bool = True) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    descriptor = os.open(path, flags, 0o600)
    try:
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sync_directory(directory: Path) -> None:
    # The link or unlink is only durable once the directory entry is.
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


# ------------------------------------------------------------------------- the cipher


def derive_nonce(case_id: UUID, seq: int, event_id: UUID | None, action: str) -> bytes:
    """The 12-byte nonce of an entry: SHA-256 of (case, seq, event id, action), truncated.

    Deterministic so a re-processed event encrypts to the same bytes; GCM-SIV keeps a
    repeated nonce from leaking anything beyond "same plaintext, same entry".
    """
    digest = hashlib.sha256(
        _NONCE_DOMAIN
        + case_id.bytes
        + struct.pack(">q", seq)
        + (event_id.bytes if event_id else _NO_EVENT)
        + action.encode()
    ).digest()
    return digest[:NONCE_BYTES]


def _associated_data(case_id: UUID, seq: int) -> bytes:
    # Binds the ciphertext to its place: pasted into another case or seq, it fails to decrypt.
    return _AAD_DOMAIN + case_id.bytes + struct.pack(">q", seq)


def canonical_payload(payload: Mapping[str, Any]) -> bytes:
    """A payload's plaintext: compact JSON, sorted keys, so equal dicts give equal bytes."""
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def encrypt_payload(
    key: bytes,
    payload: Mapping[str, Any],
    *,
    case_id: UUID,
    seq: int,
    event_id: UUID | None,
    action: str,
) -> bytes:
    """``nonce || AES-GCM-SIV(key, canonical JSON of payload)`` bound to (case, seq)."""
    nonce = derive_nonce(case_id, seq, event_id, action)
    sealed = AESGCMSIV(key).encrypt(
        nonce, canonical_payload(payload), _associated_data(case_id, seq)
    )
    return nonce + sealed


def decrypt_payload(key: bytes, ciphertext: bytes, *, case_id: UUID, seq: int) -> dict[str, Any]:
    """The payload dict sealed by ``encrypt_payload``; ``PayloadUnreadableError`` if altered."""
    if len(ciphertext) <= NONCE_BYTES:
        raise PayloadUnreadableError("ciphertext shorter than its nonce")
    nonce, sealed = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
    try:
        plaintext = AESGCMSIV(key).decrypt(nonce, sealed, _associated_data(case_id, seq))
    except InvalidTag:
        raise PayloadUnreadableError("ciphertext does not authenticate under its key") from None
    document = json.loads(plaintext)
    if not isinstance(document, dict):
        raise PayloadUnreadableError("payload is not a JSON object")
    return document
