"""Per-case encryption keys for the personal data inside audit entries, and the cipher.

Personal data never enters the audit log in clear: it is encrypted under a key that belongs
to one case, and the hash chain covers the ciphertext. Destroying the case's key (GDPR
art. 17 erasure) makes that data unreadable forever while every hash still verifies.

Key storage is a small Protocol, ``KeyStore``: ``FileKeyStore`` (one journal under the hub's
data directory, durable once per batch) is the default, ``MemoryKeyStore`` serves tests and
benchmarks, and production uses ``hub.audit.pkcs11_keys.Pkcs11KeyStore`` (an HSM through
PKCS#11), chosen by ``HUB_KEY_STORE`` (``hub.audit.key_stores``; docs/AUDIT.md). A destroyed
case keeps a tombstone, so no later call can silently mint a fresh key for it.

The cipher is AES-256-GCM-SIV (nonce-misuse resistant). Its nonce is derived from the entry
(case, seq, event id, action), never random: a routing worker that re-processes an event after
a crash must produce a byte-identical entry, or the redelivery would look like a fork.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import struct
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV

log = structlog.get_logger(__name__)

KEYS_DIRECTORY = "audit-keys"
JOURNAL_FILE = "keys.journal"
_SHREDDED = b"-"
_KEY_B64_CHARS = 44  # base64 of a 256-bit key
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


class KeyStoreUnavailable(RuntimeError):
    """The configured key store cannot be used (e.g. PKCS#11 library, token, PIN or
    key-encryption key missing); the message says which, in one line."""


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

    def flush(self) -> None:
        """Make every key handed out so far durable. A record that references a key (an audit
        entry, encrypted case data) is sent only after the flush that follows its creation."""
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

    def flush(self) -> None:
        """Nothing to make durable: a memory store loses every key with its process."""


class FileKeyStore:
    """Every case key in one append-only journal, ``<directory>/keys.journal`` (mode 0600,
    directory 0700), held in memory once read.

    A line is ``K <key id> <key, base64>`` (a key) or ``E <case id>`` (the case's erasure
    tombstone). New keys are appended and made durable by ``flush``: one ``fsync`` for every
    key created since the last one, which the routing worker calls once per batch, before it
    sends any record that references them. With ``defer_durability=False`` (tools) every new
    key is flushed before ``get_or_create`` returns. ``destroy`` appends the tombstone, then
    overwrites the key's bytes in place and syncs: on copy-on-write or wear-levelled storage
    an overwrite is not a proof of physical erasure, which is why production keeps keys in an
    HSM (``hub.audit.pkcs11_keys``, docs/AUDIT.md). Several processes may share the journal:
    appends and overwrites hold an exclusive ``flock``, and every call first reads what others
    appended (a ``stat`` when nothing was), so an erasure elsewhere is seen at once.
    """

    def __init__(self, directory: Path, *, defer_durability: bool = False) -> None:
        self.directory = directory
        self.journal = directory / JOURNAL_FILE
        self.defer_durability = defer_durability
        self._by_case: dict[UUID, tuple[str, bytes]] = {}
        self._by_id: dict[str, bytes] = {}
        self._ids_of: dict[UUID, list[str]] = {}
        self._offsets: dict[UUID, list[int]] = {}  # where each key's base64 starts
        self._erased: set[UUID] = set()
        self._read_to = 0
        self._pending: list[tuple[UUID, str, bytes]] = []
        self._mutex = threading.RLock()  # the dashboard reads keys from several threads

    # -- reading

    def _refresh(self) -> None:
        """Read what was appended since the last read (by this or another process): one
        ``stat`` when nothing was, so an erasure by another process is seen at the next call."""
        try:
            if os.stat(self.journal).st_size == self._read_to:
                return
            with self.journal.open("rb") as handle:
                handle.seek(self._read_to)
                tail = handle.read()
        except FileNotFoundError:
            return
        end = tail.rfind(b"\n") + 1  # a line still being written is read next time
        position = self._read_to
        for line in tail[:end].splitlines(keepends=True):
            self._apply(line, position)
            position += len(line)
        self._read_to += end

    def _apply(self, line: bytes, position: int) -> None:
        parts = line.split()
        if len(parts) == 3 and parts[0] == b"K":
            key_id = parts[1].decode()
            case_id = case_of_key_id(key_id)
            if case_id is None or case_id in self._erased or parts[2].startswith(_SHREDDED):
                return
            key = base64.b64decode(parts[2])
            self._remember(case_id, key_id, key)
            self._offsets.setdefault(case_id, []).append(position + len(parts[1]) + 3)
        elif len(parts) == 2 and parts[0] == b"E":
            self._forget(UUID(parts[1].decode()))
        elif line.strip():
            log.warning("audit.key_journal_bad_line", offset=position)

    def _remember(self, case_id: UUID, key_id: str, key: bytes) -> None:
        self._by_case[case_id] = (key_id, key)
        self._by_id[key_id] = key
        ids = self._ids_of.setdefault(case_id, [])
        if key_id not in ids:
            ids.append(key_id)

    def _forget(self, case_id: UUID) -> None:
        self._erased.add(case_id)
        self._by_case.pop(case_id, None)
        for key_id in self._ids_of.pop(case_id, []):
            self._by_id.pop(key_id, None)

    # -- the protocol

    def get_or_create(self, case_id: UUID) -> tuple[str, bytes]:
        """The case's ``(key_id, key)``, created on first use; ``KeyDestroyedError`` if erased."""
        with self._mutex:
            self._refresh()
            if case_id in self._erased:
                raise KeyDestroyedError(case_id)
            found = self._by_case.get(case_id)
            if found is not None:
                return found
            key_id, key = new_key_id(case_id), AESGCMSIV.generate_key(KEY_BITS)
            self._remember(case_id, key_id, key)
            self._pending.append((case_id, key_id, key))
            if not self.defer_durability:
                self.flush()
            return key_id, key

    def get(self, key_id: str) -> bytes | None:
        """The key named ``key_id``, or ``None`` when it was destroyed or never existed."""
        with self._mutex:
            self._refresh()
            if case_of_key_id(key_id) is None:
                return None
            return self._by_id.get(key_id)

    def flush(self) -> None:
        """Make every key created since the last flush durable: one append, one ``fsync``."""
        with self._mutex:
            if not self._pending:
                return
            with self._locked() as descriptor:
                self._refresh()  # never write a key for a case erased meanwhile
                lines = b"".join(
                    b"K %s %s\n" % (key_id.encode(), base64.b64encode(key))
                    for case_id, key_id, key in self._pending
                    if case_id not in self._erased
                )
                if lines:
                    self._append(descriptor, lines)
            log.debug("audit.keys_flushed", keys=len(self._pending))
            self._pending.clear()  # only once written: a failed flush is retried by the next one

    def destroy(self, case_id: UUID) -> bool:
        """Tombstone the case, then overwrite its keys in the journal and sync.

        The tombstone is durable first, so a crash in between can only leave an erased case
        with key bytes still to overwrite (re-running ``destroy`` finishes the job), never a
        case that could mint a fresh key.
        """
        with self._mutex:
            self._pending = [p for p in self._pending if p[0] != case_id]
            with self._locked() as descriptor:
                self._refresh()  # keys other processes appended to this case
                existed = case_id in self._by_case
                self._append(descriptor, b"E %s\n" % str(case_id).encode())
                for offset in self._offsets.pop(case_id, []):
                    os.pwrite(descriptor, _SHREDDED * _KEY_B64_CHARS, offset)
                os.fsync(descriptor)
            self._forget(case_id)
            log.info("audit.key_destroyed", case_id=str(case_id), existed=existed)
            return existed

    # -- writing

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        created = not self.journal.exists()
        # Not O_APPEND: Linux would append pwrite()'s overwrite; appends seek under the lock.
        descriptor = os.open(self.journal, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield descriptor
        finally:
            os.close(descriptor)  # releases the lock
        if created:
            _sync_directory(self.directory)

    @staticmethod
    def _append(descriptor: int, lines: bytes) -> None:
        # A crash mid-line leaves a fragment: start after it, so it stays one bad line.
        size = os.fstat(descriptor).st_size
        if size and os.pread(descriptor, 1, size - 1) != b"\n":
            lines = b"\n" + lines
        os.pwrite(descriptor, lines, size)
        os.fsync(descriptor)


def default_key_store(data_dir: Path) -> FileKeyStore:
    """The file key store of ``data_dir``: ``<data_dir>/audit-keys/keys.journal``."""
    return FileKeyStore(data_dir / KEYS_DIRECTORY)


def _sync_directory(directory: Path) -> None:
    # A new file's directory entry is only durable once the directory is.
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


_PAYLOAD_JSON = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)
"""Made once: ``json.dumps`` with these options builds this encoder anew on every call
(about half of its time on a payload), then calls its ``encode``, as ``canonical_payload`` does."""


def canonical_payload(payload: Mapping[str, Any]) -> bytes:
    """A payload's plaintext: compact JSON, sorted keys, so equal dicts give equal bytes."""
    return _PAYLOAD_JSON.encode(payload).encode()


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
