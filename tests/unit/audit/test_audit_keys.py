"""Per-case audit keys: one contract for every key store, and erasure that keeps chains whole."""

from __future__ import annotations

import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from hub.audit.chain import ChainHead, next_entry
from hub.audit.keys import (
    FileKeyStore,
    KeyDestroyedError,
    KeyStore,
    MemoryKeyStore,
    PayloadUnreadableError,
    case_of_key_id,
    decrypt_payload,
    default_key_store,
    encrypt_payload,
)
from hub.audit.replay import PayloadState, timeline
from hub.audit.verify import verify
from hub.contracts.enums import AgencyRole, AuditAction
from hub.contracts.events import AuditEntry

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
KEY = bytes(range(32))

StoreFactory = Callable[[Path], KeyStore]


@pytest.fixture(params=["memory", "file"])
def make_store(request: pytest.FixtureRequest) -> StoreFactory:
    if request.param == "memory":
        return lambda _directory: MemoryKeyStore()
    return lambda directory: FileKeyStore(directory / "keys")


def chain(case_id: UUID, store: KeyStore, length: int = 3) -> list[AuditEntry]:
    head: ChainHead | None = None
    entries = []
    for seq in range(length):
        entry, head = next_entry(
            head,
            case_id=case_id,
            recorded_at=T0 + timedelta(minutes=seq),
            actor="association-93",
            actor_role=AgencyRole.SUPPORT_ASSOCIATION,
            event_id=uuid4(),
            action=AuditAction.RECEIVED,
            payload={"identity": {"first_name": "Amina"}, "health": {"health_needs": "insulin"}},
            key_store=store,
        )
        entries.append(entry)
    return entries


# ------------------------------------------------------------------------- the contract


def test_a_case_key_is_created_once_and_found_by_its_id(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    store, case_id = make_store(tmp_path), uuid4()
    key_id, key = store.get_or_create(case_id)
    assert store.get_or_create(case_id) == (key_id, key)
    assert len(key) == 32
    assert case_of_key_id(key_id) == case_id
    assert store.get(key_id) == key


def test_each_case_has_its_own_key(make_store: StoreFactory, tmp_path: Path) -> None:
    store = make_store(tmp_path)
    assert store.get_or_create(uuid4())[1] != store.get_or_create(uuid4())[1]


@pytest.mark.parametrize(
    "key_id",
    ["", "nonsense", "../../etc/passwd.12345678", "0d1e2a3d-1e77-4e25-8b0b-6e726d2d646c.x"],
)
def test_unknown_or_malformed_key_ids_find_nothing(
    make_store: StoreFactory, tmp_path: Path, key_id: str
) -> None:
    assert make_store(tmp_path).get(key_id) is None


def test_destroying_a_key_erases_it_for_good(make_store: StoreFactory, tmp_path: Path) -> None:
    store, case_id = make_store(tmp_path), uuid4()
    key_id, _key = store.get_or_create(case_id)
    assert store.destroy(case_id) is True
    assert store.get(key_id) is None
    with pytest.raises(KeyDestroyedError):
        store.get_or_create(case_id)  # no fresh key may be minted for an erased case
    assert store.destroy(case_id) is False


def test_destroying_one_case_leaves_the_others(make_store: StoreFactory, tmp_path: Path) -> None:
    store, erased, kept = make_store(tmp_path), uuid4(), uuid4()
    store.get_or_create(erased)
    kept_id, kept_key = store.get_or_create(kept)
    store.destroy(erased)
    assert store.get(kept_id) == kept_key


def test_personal_data_about_an_erased_case_cannot_be_recorded(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    store, case_id = make_store(tmp_path), uuid4()
    entries = chain(case_id, store, 2)
    store.destroy(case_id)
    with pytest.raises(KeyDestroyedError):
        next_entry(
            ChainHead.of(entries[-1]),
            case_id=case_id,
            recorded_at=T0,
            actor="hub",
            actor_role=AgencyRole.HUB,
            event_id=None,
            action=AuditAction.ROUTED,
            payload={"identity": {"first_name": "Amina"}},
            key_store=store,
        )


# ------------------------------------------------------------------------- erasure


def test_after_erasure_the_payload_replays_as_erased_and_the_chain_still_verifies(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    store, erased, kept = make_store(tmp_path), uuid4(), uuid4()
    erased_chain, kept_chain = chain(erased, store), chain(kept, store)
    assert {r.payload_state for r in timeline(erased_chain, store)} == {PayloadState.CLEAR}

    store.destroy(erased)

    rows = timeline(erased_chain, store)
    assert {r.payload_state for r in rows} == {PayloadState.ERASED}
    assert all(r.payload is None for r in rows)
    assert verify([*erased_chain, *kept_chain]).ok
    kept_rows = timeline(kept_chain, store)
    assert [r.payload for r in kept_rows] == [
        {"identity": {"first_name": "Amina"}, "health": {"health_needs": "insulin"}}
    ] * 3


def test_a_key_survives_a_restart_of_the_file_store(tmp_path: Path) -> None:
    case_id = uuid4()
    key_id, key = FileKeyStore(tmp_path).get_or_create(case_id)
    assert FileKeyStore(tmp_path).get(key_id) == key


def test_key_files_are_private_to_the_hub(tmp_path: Path) -> None:
    store = default_key_store(tmp_path)
    case_id = uuid4()
    store.get_or_create(case_id)
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((store.directory / f"{case_id}.key").stat().st_mode) == 0o600


def test_destroy_unlinks_the_key_file_and_leaves_only_a_tombstone(tmp_path: Path) -> None:
    store, case_id = FileKeyStore(tmp_path), uuid4()
    store.get_or_create(case_id)
    store.destroy(case_id)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{case_id}.erased"]
    assert (tmp_path / f"{case_id}.erased").read_bytes() == b""
    assert stat.S_IMODE((tmp_path / f"{case_id}.erased").stat().st_mode) == 0o600


# ------------------------------------------------------------------------- the cipher


def test_encryption_is_deterministic_for_the_same_entry() -> None:
    case_id, event = uuid4(), uuid4()
    payload = {"health": {"pregnant": True}, "identity": {"first_name": "Amina"}}
    reordered = {"identity": {"first_name": "Amina"}, "health": {"pregnant": True}}
    first = encrypt_payload(KEY, payload, case_id=case_id, seq=4, event_id=event, action="ROUTED")
    again = encrypt_payload(KEY, reordered, case_id=case_id, seq=4, event_id=event, action="ROUTED")
    assert first == again
    other = encrypt_payload(KEY, payload, case_id=case_id, seq=5, event_id=event, action="ROUTED")
    assert other[:12] != first[:12]


def test_a_ciphertext_moved_to_another_entry_does_not_decrypt() -> None:
    case_id = uuid4()
    sealed = encrypt_payload(
        KEY, {"identity": {}}, case_id=case_id, seq=1, event_id=None, action="X"
    )
    assert decrypt_payload(KEY, sealed, case_id=case_id, seq=1) == {"identity": {}}
    with pytest.raises(PayloadUnreadableError):
        decrypt_payload(KEY, sealed, case_id=case_id, seq=2)
    with pytest.raises(PayloadUnreadableError):
        decrypt_payload(KEY, sealed, case_id=uuid4(), seq=1)


def test_an_altered_ciphertext_is_unreadable() -> None:
    case_id = uuid4()
    sealed = bytearray(
        encrypt_payload(KEY, {"identity": {}}, case_id=case_id, seq=0, event_id=None, action="X")
    )
    sealed[-1] ^= 1
    with pytest.raises(PayloadUnreadableError):
        decrypt_payload(KEY, bytes(sealed), case_id=case_id, seq=0)
    with pytest.raises(PayloadUnreadableError):
        decrypt_payload(KEY, b"short", case_id=case_id, seq=0)
