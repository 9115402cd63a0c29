"""Personal data sealed under the case key wherever it persists outside the audit log.

The case-state changelog and the dead letters (and so the re-drives, which carry a dead letter
as it is) keep personal data of a case. Each copy is sealed under the same per-case key as the
audit payloads (``hub.audit.keys``, AES-256-GCM-SIV), so destroying that key — erasure, or the
retention schedule — makes every copy unreadable at once, wherever it was written.

A sealed blob names its key, so a reader needs nothing but the key store::

    MAGIC | len(key_id) (1 byte) | key_id (ASCII) | nonce (12 bytes) | AES-GCM-SIV ciphertext

The associated data binds the blob to its case and its purpose: a blob pasted into another case
or used as the other kind of record does not open. The nonce is an HMAC of the plaintext under
the case key: deterministic (the same plaintext is sealed to the same bytes: a dead letter
re-written after a crash is byte-identical) and, unlike a plain hash, useless for testing
guesses once the key is gone. A case state's plaintext lists its sets in the process's hash
order, so another process may seal an equal state to other bytes: a snapshot as valid, the
compacted changelog keeps the last.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV

from hub.audit.keys import NONCE_BYTES, KeyStore, PayloadUnreadableError, case_of_key_id

MAGIC = b"nrm.sealed.v1\x00"
_DOMAIN = b"nrm.sealed.aad.v1"


class Purpose(StrEnum):
    """What a sealed blob holds; part of its associated data."""

    CASE_STATE = "case-state"
    DEAD_LETTER = "dead-letter"


def is_sealed(blob: bytes) -> bool:
    """Whether ``blob`` has the sealed format (it may still fail to open)."""
    return blob.startswith(MAGIC)


def _aad(case_id: UUID, purpose: Purpose) -> bytes:
    return _DOMAIN + purpose.value.encode() + b"\x00" + case_id.bytes


def seal(key_store: KeyStore, case_id: UUID, purpose: Purpose, plaintext: bytes) -> bytes:
    """``plaintext`` sealed under the case key (created on first use).

    Raises ``KeyDestroyedError`` for a case whose key was destroyed: the caller must then
    keep no personal data at all.
    """
    key_id, key = key_store.get_or_create(case_id)
    aad = _aad(case_id, purpose)
    nonce = hmac.new(key, aad + plaintext, hashlib.sha256).digest()[:NONCE_BYTES]
    name = key_id.encode("ascii")
    return MAGIC + bytes([len(name)]) + name + nonce + AESGCMSIV(key).encrypt(nonce, plaintext, aad)


def unseal(key_store: KeyStore, case_id: UUID, purpose: Purpose, blob: bytes) -> bytes | None:
    """The plaintext of a sealed blob; ``None`` when its key is gone (destroyed or never
    here). ``PayloadUnreadableError`` when the blob is malformed, names another case's key,
    or does not authenticate (altered, moved to another case or purpose)."""
    if not is_sealed(blob) or len(blob) <= len(MAGIC):
        raise PayloadUnreadableError("not a sealed blob")
    start = len(MAGIC) + 1
    end = start + blob[len(MAGIC)]
    key_id = blob[start:end].decode("ascii", errors="replace")
    if case_of_key_id(key_id) != case_id:
        raise PayloadUnreadableError("the blob is sealed under another case's key")
    nonce, sealed = blob[end : end + NONCE_BYTES], blob[end + NONCE_BYTES :]
    if len(nonce) != NONCE_BYTES or not sealed:
        raise PayloadUnreadableError("sealed blob cut short")
    key = key_store.get(key_id)
    if key is None:
        return None
    try:
        return AESGCMSIV(key).decrypt(nonce, sealed, _aad(case_id, purpose))
    except InvalidTag:
        raise PayloadUnreadableError("sealed blob does not authenticate under its key") from None
