"""Who may change the directory: only the directory authority's current key.

A table of directory records, as an attacker or an operator would write them, and whether
the authority proves each one. The threat: an entry adding a key to police-93 makes that key
able to publish as police-93.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole
from hub.contracts.hub_records import (
    DirectoryEntry,
    SigningKeyEntry,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import DIRECTORY
from hub.rules.directory import Directory, SigningKey, entry_from_agency
from hub.runtime.settings import PROJECT_ROOT, HubSettings, get_settings
from hub.trust.agency_keys import dev_key_path, load_private_key
from hub.trust.directory_authority import (
    AUTHORITY_ID,
    AuthorityConfigError,
    DirectoryAuthority,
    DirectoryRefusal,
    SignedDirectory,
    configured_authority,
    decide_directory_record,
    sign_directory_record,
)
from hub.trust.signing import Header, RecordSigner, public_key_b64

CONFIG_DIR = PROJECT_ROOT / "deploy" / "config"
CODEC = Codec(SchemaRegistry.load(get_settings().schemas_dir))
WHEN = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

ROOT = load_private_key(dev_key_path(CONFIG_DIR, AUTHORITY_ID))
ROOT_SIGNER = RecordSigner(ROOT, "directory-authority-2026-1")
NEXT = Ed25519PrivateKey.generate()
NEXT_SIGNER = RecordSigner(NEXT, "directory-authority-2027-1")
AUTHORITY = configured_authority(HubSettings())
POLICE_SIGNER = RecordSigner(
    load_private_key(dev_key_path(CONFIG_DIR, "police-93")), "police-93-2026-1"
)
ATTACKER = Ed25519PrivateKey.generate()

DIRECTORY_NOW = Directory.load(CONFIG_DIR)
POLICE = DIRECTORY_NOW.get("police-93")
assert POLICE is not None


def police_with_attacker_key() -> DirectoryEntry:
    """The forgery of the issue: police-93 with one more key, the attacker's."""
    assert POLICE is not None
    extra = SigningKey(key_id="police-93-evil", public_key=public_key_b64(ATTACKER))
    agency = POLICE.model_copy(update={"signing_keys": (*POLICE.signing_keys, extra)})
    return entry_from_agency(agency, WHEN)


def rotation_to(new: RecordSigner) -> DirectoryEntry:
    return DirectoryEntry(
        agency_id=AUTHORITY_ID,
        updated_at=WHEN,
        name="Directory authority",
        role=AgencyRole.HUB,
        signing_keys=(SigningKeyEntry(key_id=new.key_id, public_key=new.public_key_b64),),
    )


@dataclass(frozen=True)
class Record:
    key: bytes
    value: bytes
    headers: list[Header]
    entry: DirectoryEntry


def signed(entry: DirectoryEntry, signer: RecordSigner) -> Record:
    value = CODEC.encode_event(entry)
    key, headers = sign_directory_record(signer, entry, value)
    return Record(key, value, headers, entry)


def unsigned(entry: DirectoryEntry) -> Record:
    return Record(entry.agency_id.encode(), CODEC.encode_event(entry), [], entry)


def tampered(entry: DirectoryEntry, signer: RecordSigner) -> Record:
    """Signed by the authority, then the attacker's key slipped in (value re-encoded)."""
    genuine = signed(entry, signer)
    return Record(
        genuine.key,
        CODEC.encode_event(police_with_attacker_key()),
        genuine.headers,
        police_with_attacker_key(),
    )


ROTATED = DirectoryAuthority.single(NEXT_SIGNER.public_key_b64, NEXT_SIGNER.key_id)


@pytest.mark.parametrize(
    ("case", "authority", "make", "refusal"),
    [
        (
            "unsigned",
            AUTHORITY,
            lambda: unsigned(police_with_attacker_key()),
            DirectoryRefusal.UNSIGNED,
        ),
        (
            "signed by an agency key",
            AUTHORITY,
            lambda: signed(police_with_attacker_key(), POLICE_SIGNER),
            DirectoryRefusal.UNKNOWN_KEY,
        ),
        (
            "signed by a stranger claiming the authority's key id",
            AUTHORITY,
            lambda: signed(police_with_attacker_key(), RecordSigner(ATTACKER, ROOT_SIGNER.key_id)),
            DirectoryRefusal.BAD_SIGNATURE,
        ),
        (
            "signed by the rotated-away authority key",
            ROTATED,
            lambda: signed(police_with_attacker_key(), ROOT_SIGNER),
            DirectoryRefusal.UNKNOWN_KEY,
        ),
        (
            "tampered after signing",
            AUTHORITY,
            lambda: tampered(entry_from_agency(POLICE, WHEN), ROOT_SIGNER),
            DirectoryRefusal.BAD_SIGNATURE,
        ),
        (
            "signed entry moved under another record key",
            AUTHORITY,
            lambda: _rekeyed(signed(entry_from_agency(POLICE, WHEN), ROOT_SIGNER)),
            DirectoryRefusal.BAD_SIGNATURE,
        ),
        (
            "valid, signed by the authority",
            AUTHORITY,
            lambda: signed(entry_from_agency(POLICE, WHEN), ROOT_SIGNER),
            None,
        ),
        (
            "valid, signed by the new authority after rotation",
            ROTATED,
            lambda: signed(entry_from_agency(POLICE, WHEN), NEXT_SIGNER),
            None,
        ),
        (
            "rotation signed by the current key",
            AUTHORITY,
            lambda: signed(rotation_to(NEXT_SIGNER), ROOT_SIGNER),
            None,
        ),
        (
            "rotation signed by the new key only",
            AUTHORITY,
            lambda: signed(rotation_to(NEXT_SIGNER), NEXT_SIGNER),
            DirectoryRefusal.UNKNOWN_KEY,
        ),
        (
            "rotation that gives no key",
            AUTHORITY,
            lambda: signed(
                rotation_to(NEXT_SIGNER).model_copy(update={"signing_keys": ()}), ROOT_SIGNER
            ),
            DirectoryRefusal.BAD_ROTATION,
        ),
        (
            "half the signature headers",
            AUTHORITY,
            lambda: _without_timestamp(signed(entry_from_agency(POLICE, WHEN), ROOT_SIGNER)),
            DirectoryRefusal.MALFORMED_SIGNATURE,
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_only_the_current_authority_proves_a_directory_change(
    case: str,
    authority: DirectoryAuthority,
    make: Callable[[], Record],
    refusal: DirectoryRefusal | None,
) -> None:
    record = make()
    decision = decide_directory_record(
        authority, DIRECTORY.name, record.key, record.value, record.headers, record.entry
    )
    assert decision.refusal is refusal, (case, decision.detail)


def _rekeyed(record: Record) -> Record:
    return Record(b"police-94", record.value, record.headers, record.entry)


def _without_timestamp(record: Record) -> Record:
    return Record(record.key, record.value, record.headers[:2], record.entry)


def test_a_refused_entry_leaves_the_directory_as_it_was_and_is_counted() -> None:
    state = SignedDirectory(DIRECTORY_NOW, AUTHORITY)
    forged = signed(police_with_attacker_key(), POLICE_SIGNER)
    state.feed(DIRECTORY.name, forged.key, forged.value, forged.headers, forged.entry)
    assert state.directory.get("police-93") == POLICE
    assert state.refused == {DirectoryRefusal.UNKNOWN_KEY: 1}


def test_a_rotation_hands_over_the_directory_to_the_new_key_and_retires_the_old() -> None:
    state = SignedDirectory(DIRECTORY_NOW, AUTHORITY)
    for record in (
        signed(rotation_to(NEXT_SIGNER), ROOT_SIGNER),
        signed(police_with_attacker_key(), ROOT_SIGNER),  # the old key: refused now
        signed(
            entry_from_agency(POLICE.model_copy(update={"accepting": False}), WHEN), NEXT_SIGNER
        ),
    ):
        state.feed(DIRECTORY.name, record.key, record.value, record.headers, record.entry)
    assert state.authority == ROTATED
    police = state.directory.get("police-93")
    assert police is not None
    assert not police.accepting
    assert police.signing_keys == POLICE.signing_keys
    assert state.directory.get(AUTHORITY_ID) is None  # the authority is never an agency
    assert state.refused == {DirectoryRefusal.UNKNOWN_KEY: 1}


def test_each_rotation_has_its_own_record_key_so_compaction_keeps_the_chain() -> None:
    first = signed(rotation_to(NEXT_SIGNER), ROOT_SIGNER)
    assert first.key == f"{AUTHORITY_ID}/{NEXT_SIGNER.key_id}".encode()


def test_the_dev_authority_key_matches_the_configured_public_key() -> None:
    assert AUTHORITY.keys[0].public_key == public_key_b64(ROOT)


def test_an_unreadable_authority_key_is_a_configuration_error(tmp_path: Path) -> None:
    bad = tmp_path / "authority.txt"
    bad.write_text("not base64!")
    with pytest.raises(AuthorityConfigError, match=r"authority\.txt"):
        configured_authority(HubSettings(directory_authority_public_key_file=bad))
    with pytest.raises(AuthorityConfigError, match="illisible"):
        configured_authority(HubSettings(directory_authority_public_key_file=tmp_path / "none"))


def test_an_older_genuine_entry_written_again_does_not_undo_a_newer_one() -> None:
    # The authority revoked the attacker's key at t=2; the entry that listed it (t=1, genuinely
    # signed) is written again: refused, the revocation stands.
    listed, revoked = police_with_attacker_key(), entry_from_agency(POLICE, WHEN)

    def at(entry: DirectoryEntry, ms: int) -> Record:
        value = CODEC.encode_event(entry)
        key = entry.agency_id.encode()
        return Record(
            key, value, ROOT_SIGNER.sign(DIRECTORY.name, key, value, timestamp_ms=ms), entry
        )

    state = SignedDirectory(DIRECTORY_NOW, AUTHORITY)
    decisions = [
        state.feed(DIRECTORY.name, r.key, r.value, r.headers, r.entry).refusal
        for r in (at(listed, 1_000), at(revoked, 2_000), at(listed, 1_000), at(revoked, 2_000))
    ]
    assert decisions == [None, None, DirectoryRefusal.REPLAYED, DirectoryRefusal.REPLAYED]
    assert state.directory.get("police-93") == POLICE
