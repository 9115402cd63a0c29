"""Sealed blobs: readable with the case key, unreadable without it, bound to case and purpose."""

from __future__ import annotations

import uuid

import pytest

from hub.audit.keys import KeyDestroyedError, MemoryKeyStore, PayloadUnreadableError
from hub.audit.sealing import MAGIC, Purpose, is_sealed, seal, unseal

CASE = uuid.UUID("00000000-0000-4000-8000-000000000001")
OTHER = uuid.UUID("00000000-0000-4000-8000-000000000002")
SECRET = b'{"first_name":"Amina","last_name":"Diallo","date_of_birth":"1994-03-12"}'


def test_a_sealed_blob_opens_with_the_case_key_and_shows_nothing_in_clear() -> None:
    keys = MemoryKeyStore()
    blob = seal(keys, CASE, Purpose.DEAD_LETTER, SECRET)
    assert is_sealed(blob)
    for word in (b"Amina", b"Diallo", b"1994"):
        assert word not in blob
    assert unseal(keys, CASE, Purpose.DEAD_LETTER, blob) == SECRET


def test_sealing_is_deterministic_per_key() -> None:
    keys = MemoryKeyStore()
    assert seal(keys, CASE, Purpose.CASE_STATE, SECRET) == seal(
        keys, CASE, Purpose.CASE_STATE, SECRET
    )


def test_destroying_the_key_makes_the_blob_unreadable_and_forbids_new_seals() -> None:
    keys = MemoryKeyStore()
    blob = seal(keys, CASE, Purpose.CASE_STATE, SECRET)
    keys.destroy(CASE)
    assert unseal(keys, CASE, Purpose.CASE_STATE, blob) is None
    with pytest.raises(KeyDestroyedError):
        seal(keys, CASE, Purpose.CASE_STATE, SECRET)


def _flip(blob: bytes, index: int) -> bytes:
    return blob[:index] + bytes([blob[index] ^ 1]) + blob[index + 1 :]


@pytest.mark.parametrize(
    ("name", "attack"),
    [
        ("another purpose", lambda blob: (CASE, Purpose.CASE_STATE, blob)),
        ("another case", lambda blob: (OTHER, Purpose.DEAD_LETTER, blob)),
        ("a flipped ciphertext bit", lambda blob: (CASE, Purpose.DEAD_LETTER, _flip(blob, -1))),
        ("a flipped nonce bit", lambda blob: (CASE, Purpose.DEAD_LETTER, _flip(blob, -30))),
        ("cut short", lambda blob: (CASE, Purpose.DEAD_LETTER, blob[: len(MAGIC) + 40])),
        ("not sealed at all", lambda blob: (CASE, Purpose.DEAD_LETTER, SECRET)),
    ],
)
def test_a_moved_or_altered_blob_does_not_open(name: str, attack: object) -> None:
    keys = MemoryKeyStore()
    keys.get_or_create(OTHER)
    blob = seal(keys, CASE, Purpose.DEAD_LETTER, SECRET)
    case_id, purpose, altered = attack(blob)  # type: ignore[operator]
    with pytest.raises(PayloadUnreadableError):
        unseal(keys, case_id, purpose, altered)
