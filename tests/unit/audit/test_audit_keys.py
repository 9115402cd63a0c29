"""Per-case audit keys: one contract for every key store (memory, file journal, PKCS#11 on
SoftHSM2), erasure that keeps chains whole, and what each store promises on its own."""

from __future__ import annotations

import base64
import dataclasses
import multiprocessing
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from softhsm import SoftHsm

from hub.audit.chain import ChainHead, next_entry
from hub.audit.keys import (
    JOURNAL_FILE,
    FileKeyStore,
    KeyDestroyedError,
    KeyStore,
    KeyStoreUnavailable,
    MemoryKeyStore,
    PayloadUnreadableError,
    case_of_key_id,
    decrypt_payload,
    default_key_store,
    encrypt_payload,
)
from hub.audit.pkcs11_keys import Pkcs11KeyStore
from hub.audit.replay import PayloadState, timeline
from hub.audit.verify import verify
from hub.contracts.enums import AgencyRole, AuditAction
from hub.contracts.hub_records import (
    AuditEntry,
)

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
KEY = bytes(range(32))

StoreFactory = Callable[[Path], KeyStore]
"""A store over the storage under a directory: called twice, a second process on the same
storage (the same store object for memory, which has no storage to share)."""


@pytest.fixture(params=["memory", "file", "file-batched", "pkcs11"])
def make_store(
    request: pytest.FixtureRequest, pkcs11_store: Callable[[], Pkcs11KeyStore]
) -> StoreFactory:
    if request.param == "memory":
        memory = MemoryKeyStore()
        return lambda _directory: memory
    if request.param == "pkcs11":
        return lambda _directory: pkcs11_store()
    batched = request.param == "file-batched"
    return lambda directory: FileKeyStore(directory / "keys", defer_durability=batched)


@pytest.fixture(params=["file", "pkcs11"])
def make_durable_store(
    request: pytest.FixtureRequest, pkcs11_store: Callable[[], Pkcs11KeyStore]
) -> StoreFactory:
    """The stores whose keys outlive the process."""
    if request.param == "pkcs11":
        return lambda _directory: pkcs11_store()
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


# ------------------------------------------------------------------------- restarts, processes


def test_keys_and_erasures_survive_a_restart(
    make_durable_store: StoreFactory, tmp_path: Path
) -> None:
    kept, erased = uuid4(), uuid4()
    first = make_durable_store(tmp_path)
    kept_id, kept_key = first.get_or_create(kept)
    erased_id, _ = first.get_or_create(erased)
    first.flush()
    first.destroy(erased)

    restarted = make_durable_store(tmp_path)
    assert restarted.get(kept_id) == kept_key
    assert restarted.get_or_create(kept) == (kept_id, kept_key)
    assert restarted.get(erased_id) is None
    with pytest.raises(KeyDestroyedError):
        restarted.get_or_create(erased)


def test_two_processes_share_keys_and_erasures(make_store: StoreFactory, tmp_path: Path) -> None:
    worker, operator, case_id = make_store(tmp_path), make_store(tmp_path), uuid4()
    key_id, key = worker.get_or_create(case_id)
    worker.flush()
    assert operator.get(key_id) == key  # replay in another process reads the worker's key
    assert operator.destroy(case_id) is True  # `hub erase` in another process
    assert worker.get(key_id) is None
    with pytest.raises(KeyDestroyedError):
        worker.get_or_create(case_id)


def test_erasure_in_another_process_stops_a_key_not_yet_durable(tmp_path: Path) -> None:
    worker = FileKeyStore(tmp_path, defer_durability=True)
    case_id = uuid4()
    worker.get_or_create(case_id)
    FileKeyStore(tmp_path).destroy(case_id)
    worker.flush()  # the erasure won: the pending key is never written
    assert b"K " not in (tmp_path / JOURNAL_FILE).read_bytes()


# ------------------------------------------------------------------------- the file journal


def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def counting(descriptor: int) -> None:
        calls.append(descriptor)
        real(descriptor)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


def test_a_batch_of_new_keys_costs_one_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileKeyStore(tmp_path, defer_durability=True)
    store.flush()  # creates nothing: no journal, no fsync
    synced = fsyncs(monkeypatch)
    created = [store.get_or_create(uuid4()) for _ in range(50)]
    assert synced == []  # nothing durable yet, and nothing may reference these keys yet
    store.flush()
    journal_syncs = len(synced)
    assert journal_syncs <= 2  # the journal, and its directory when the journal is new
    store.flush()
    assert len(synced) == journal_syncs  # nothing new, nothing synced
    restarted = FileKeyStore(tmp_path)
    assert all(restarted.get(key_id) == key for key_id, key in created)
    more = [store.get_or_create(uuid4()) for _ in range(50)]
    store.flush()
    assert len(synced) == journal_syncs + 1
    assert all(FileKeyStore(tmp_path).get(key_id) == key for key_id, key in more)


def test_a_key_not_flushed_is_lost_with_its_process(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path, defer_durability=True)
    key_id, _key = store.get_or_create(uuid4())
    assert FileKeyStore(tmp_path).get(key_id) is None  # a crash now: the key never existed
    store.flush()
    assert FileKeyStore(tmp_path).get(key_id) is not None


def test_tools_get_durable_keys_at_once(tmp_path: Path) -> None:
    key_id, key = FileKeyStore(tmp_path).get_or_create(uuid4())
    assert FileKeyStore(tmp_path).get(key_id) == key


def test_the_journal_is_private_to_the_hub(tmp_path: Path) -> None:
    store = default_key_store(tmp_path)
    store.get_or_create(uuid4())
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.journal.stat().st_mode) == 0o600


def test_destroy_overwrites_the_key_bytes_in_the_journal(tmp_path: Path) -> None:
    store, erased, kept = FileKeyStore(tmp_path), uuid4(), uuid4()
    _id, erased_key = store.get_or_create(erased)
    _id, kept_key = store.get_or_create(kept)
    store.destroy(erased)
    journal = (tmp_path / JOURNAL_FILE).read_bytes()
    assert base64.b64encode(erased_key) not in journal
    assert erased_key not in journal
    assert base64.b64encode(kept_key) in journal
    assert f"E {erased}".encode() in journal


def _make_keys(directory: str, count: int, batch: int) -> list[tuple[str, str]]:
    store = FileKeyStore(Path(directory), defer_durability=True)
    made = []
    for index in range(count):
        key_id, key = store.get_or_create(uuid4())
        made.append((key_id, key.hex()))
        if index % batch == batch - 1:
            store.flush()
    store.flush()
    return made


def test_processes_appending_at_once_lose_no_key(tmp_path: Path) -> None:
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        results = pool.starmap(_make_keys, [(str(tmp_path), 150, 7)] * 3)
    made = [pair for result in results for pair in result]
    reader = FileKeyStore(tmp_path)
    assert len(made) == 450
    assert all(reader.get(key_id) == bytes.fromhex(key) for key_id, key in made)
    lines = (tmp_path / JOURNAL_FILE).read_bytes().splitlines()
    assert len(lines) == 450  # no torn or interleaved line


def test_a_destroy_cut_short_after_its_tombstone_is_finished_by_running_it_again(
    tmp_path: Path,
) -> None:
    case_id = uuid4()
    _id, key = FileKeyStore(tmp_path).get_or_create(case_id)
    with (tmp_path / JOURNAL_FILE).open("ab") as journal:
        journal.write(f"E {case_id}\n".encode())  # the crash: tombstone synced, key not shredded
    with pytest.raises(KeyDestroyedError):
        FileKeyStore(tmp_path).get_or_create(case_id)  # no fresh key, even before the re-run
    FileKeyStore(tmp_path).destroy(case_id)
    assert base64.b64encode(key) not in (tmp_path / JOURNAL_FILE).read_bytes()


def test_a_torn_last_line_is_ignored_and_never_glued_to_the_next(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path)
    key_id, key = store.get_or_create(uuid4())
    with (tmp_path / JOURNAL_FILE).open("ab") as journal:
        journal.write(b"K 0d1e2a3d-1e77-4e25-8b0b-6e726d2d646c.0000")  # a crash mid-write
    assert FileKeyStore(tmp_path).get(key_id) == key
    later_id, later = FileKeyStore(tmp_path).get_or_create(uuid4())
    reopened = FileKeyStore(tmp_path)
    assert reopened.get(later_id) == later
    assert reopened.get(key_id) == key


# ------------------------------------------------------------------------- the PKCS#11 token


def test_the_case_key_never_sits_in_clear_on_the_token(
    pkcs11_store: Callable[[], Pkcs11KeyStore], softhsm: SoftHsm
) -> None:
    _key_id, key = pkcs11_store().get_or_create(uuid4())
    stored = b"".join(p.read_bytes() for p in softhsm.token_dir.rglob("*") if p.is_file())
    assert key not in stored


def test_destroy_removes_the_sealed_key_object_from_the_token(
    pkcs11_store: Callable[[], Pkcs11KeyStore], softhsm: SoftHsm
) -> None:
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    store, case_id = pkcs11_store(), uuid4()
    key_id, _key = store.get_or_create(case_id)
    store.destroy(case_id)
    store.close()
    token = pkcs11.lib(str(softhsm.module)).get_token(token_label=softhsm.label)
    with token.open(user_pin=softhsm.pin) as session:
        objects = list(session.get_objects({Attribute.CLASS: ObjectClass.DATA}))
        labels = [o[Attribute.LABEL] for o in objects]
    assert key_id not in labels
    assert str(case_id) in labels  # the tombstone


def test_a_sealed_key_moved_to_another_key_id_does_not_open(
    pkcs11_store: Callable[[], Pkcs11KeyStore], softhsm: SoftHsm
) -> None:
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    store, victim, target = pkcs11_store(), uuid4(), uuid4()
    victim_id, _key = store.get_or_create(victim)
    target_id, _target_key = store.get_or_create(target)
    store.close()
    token = pkcs11.lib(str(softhsm.module)).get_token(token_label=softhsm.label)
    with token.open(rw=True, user_pin=softhsm.pin) as session:
        (stolen,) = session.get_objects(
            {Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: victim_id}
        )
        (original,) = session.get_objects(
            {Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: target_id}
        )
        application = original[Attribute.APPLICATION]
        original.destroy()
        session.create_object(  # the victim's sealed key, relabelled as the target's
            {
                Attribute.CLASS: ObjectClass.DATA,
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.LABEL: target_id,
                Attribute.APPLICATION: application,
                Attribute.VALUE: stolen[Attribute.VALUE],
            }
        )
    reopened = pkcs11_store()
    assert reopened.get(target_id) is None
    with pytest.raises(KeyStoreUnavailable, match="does not open"):
        reopened.get_or_create(target)


def test_a_store_survives_another_session_of_its_process_logging_out(
    pkcs11_store: Callable[[], Pkcs11KeyStore],
) -> None:
    first, second = pkcs11_store(), pkcs11_store()  # the first logged in, the second shares it
    case_id = uuid4()
    key_id, key = second.get_or_create(case_id)
    first.close()  # C_Logout: every session of the process is logged out
    assert second.get_or_create(case_id) == (key_id, key)  # not a fresh key: logged in again
    first, third = pkcs11_store(), pkcs11_store()
    first.close()
    assert third.get(key_id) == key  # a miss while logged out is not taken for "destroyed"


def test_the_key_encryption_key_cannot_be_read_off_the_token(softhsm: SoftHsm) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11.exceptions import AttributeSensitive

    token = pkcs11.lib(str(softhsm.module)).get_token(token_label=softhsm.label)
    with token.open(user_pin=softhsm.pin) as session:
        kek = session.get_key(ObjectClass.SECRET_KEY, KeyType.AES, label=softhsm.kek_label)
        with pytest.raises(AttributeSensitive):
            kek[Attribute.VALUE]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pin": "000000"}, "cannot open PKCS#11 token"),
        ({"label": "no-such-token"}, "cannot open PKCS#11 token"),
        ({"kek_label": "no-such-kek"}, "no single AES key-encryption key"),
        ({"module": Path("/nonexistent/libpkcs11.so")}, "cannot open PKCS#11 token"),
    ],
)
def test_a_misconfigured_token_is_refused_in_one_line(
    softhsm: SoftHsm, change: dict[str, object], message: str
) -> None:
    wrong = dataclasses.replace(softhsm, **change)  # type: ignore[arg-type]
    with pytest.raises(KeyStoreUnavailable, match=message) as refused:
        wrong.store()
    assert "\n" not in str(refused.value)
    assert softhsm.pin not in str(refused.value)


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
