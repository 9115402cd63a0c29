"""The per-case hash chain: deterministic entries, and every tampering named with its position."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from uuid import UUID

import pytest
from audit_entries import FixedKeyStore
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.audit.chain import (
    GENESIS_HASH,
    AuditEntryError,
    ChainHead,
    canonical_bytes,
    entry_hash,
    head_of,
    next_entry,
)
from hub.audit.keys import MemoryKeyStore
from hub.audit.log_record import LogRecord, Position, ProblemKind, decode_record
from hub.audit.proof import no_proof
from hub.audit.verify import VerificationReport, verify
from hub.cli.render_audit import describe_problem
from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole, AuditAction, DataCategory, LawfulBasis
from hub.contracts.hub_records import (
    AuditEntry,
)
from hub.contracts.registry import SchemaRegistry
from hub.runtime.settings import PROJECT_ROOT

CASE_A = UUID("6f1c2a9e-0000-4000-8000-00000000000a")
CASE_B = UUID("6f1c2a9e-0000-4000-8000-00000000000b")
CASE_C = UUID("6f1c2a9e-0000-4000-8000-00000000000c")
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CODEC = Codec(SchemaRegistry.load(PROJECT_ROOT / "schemas"))


def event_id(case_id: UUID, seq: int) -> UUID:
    return UUID(int=case_id.int ^ (seq + 1))


def make_chain(
    case_id: UUID, length: int, key_store: MemoryKeyStore | FixedKeyStore | None = None
) -> list[AuditEntry]:
    store = key_store or FixedKeyStore()
    head: ChainHead | None = None
    entries = []
    for seq in range(length):
        entry, head = next_entry(
            head,
            case_id=case_id,
            recorded_at=T0 + timedelta(minutes=seq),
            actor="police-93",
            actor_role=AgencyRole.POLICE_GENDARMERIE,
            event_id=event_id(case_id, seq),
            action=AuditAction.ROUTED if seq % 2 else AuditAction.RECEIVED,
            decision="route",
            legal_basis="consent:8d2f8f9e-5c1b-4a43-9d1e-3f3c1b2a0c11",
            recipient="prefecture-93" if seq % 2 else None,
            categories=[DataCategory.IDENTITY],
            payload={"identity": {"first_name": "Amina"}, "health": {"seq": seq}},
            key_store=store,
        )
        entries.append(entry)
    return entries


def interleaved(*chains: list[AuditEntry]) -> list[AuditEntry]:
    """Round-robin over the chains, as cases interleave in a partition."""
    log: list[AuditEntry] = []
    for index in range(max(map(len, chains))):
        log.extend(chain[index] for chain in chains if index < len(chain))
    return log


def kinds(report: VerificationReport) -> list[ProblemKind]:
    return [problem.kind for problem in report.problems]


# ------------------------------------------------------------------------- making entries


def test_first_entry_starts_the_chain_from_genesis() -> None:
    first = make_chain(CASE_A, 1)[0]
    assert first.seq == 0
    assert first.prev_hash == GENESIS_HASH
    assert first.hash == entry_hash(first)


def test_each_entry_points_to_the_previous_hash() -> None:
    chain = make_chain(CASE_A, 4)
    assert [e.seq for e in chain] == [0, 1, 2, 3]
    assert all(b.prev_hash == a.hash for a, b in pairwise(chain))


def test_entries_are_deterministic_so_reprocessing_repeats_them_exactly() -> None:
    store = MemoryKeyStore()
    assert make_chain(CASE_A, 3, store) == make_chain(CASE_A, 3, store)


def test_canonical_encoding_is_pinned() -> None:
    # Changing this hash breaks every chain ever written: it must be a new CHAIN_VERSION.
    entry = make_chain(CASE_A, 2)[1]
    assert canonical_bytes(entry).startswith(b"nrm.audit.entry.v1\x00" + CASE_A.bytes)
    assert entry.hash.hex() == PINNED_SEQ1_HASH


def test_lawful_bases_extend_the_encoding_without_changing_older_entries() -> None:
    """AuditEntry v2's ``lawful_bases`` is hashed only when present: an entry without it
    keeps its v1 bytes (so chains written before verify), and one basis more or less, or
    another order, is a different hash."""
    entry = make_chain(CASE_A, 2)[1]
    consent = entry.model_copy(update={"lawful_bases": (LawfulBasis.GDPR_6_1_A_CONSENT,)})
    both = entry.model_copy(
        update={"lawful_bases": (LawfulBasis.GDPR_6_1_A_CONSENT, LawfulBasis.LED_2016_680)}
    )
    assert canonical_bytes(consent).startswith(canonical_bytes(entry))
    assert len({entry_hash(e) for e in (entry, consent, both)}) == 3
    decoded = AuditEntry.model_validate(CODEC.decode(CODEC.encode_event(both)).record)
    assert decoded.lawful_bases == both.lawful_bases
    assert entry_hash(decoded) == entry_hash(both)


PINNED_SEQ1_HASH = "3b9b75a9ce0a5476d006aa4f4dd46fb68bae2547369bcfb59adc6a8927eec1f6"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", 7),
        ("recorded_at", T0 + timedelta(milliseconds=1)),
        ("actor", "police-94"),
        ("actor_role", AgencyRole.PREFECTURE),
        ("event_id", None),
        ("action", AuditAction.HELD),
        ("decision", "hold"),
        ("reason", "MISSING_CONSENT"),
        ("legal_basis", None),
        ("recipient", "prefecture-94"),
        ("categories", (DataCategory.IDENTITY,)),
        ("payload_ciphertext", b"other"),
        ("key_id", "other"),
        ("prev_hash", bytes(32)),
        ("lawful_bases", (LawfulBasis.GDPR_6_1_A_CONSENT,)),
    ],
)
def test_the_hash_covers_every_field(field: str, value: object) -> None:
    entry = make_chain(CASE_A, 2)[1]
    assert entry_hash(entry.model_copy(update={field: value})) != entry.hash


def test_categories_are_sorted_and_include_the_payload_categories() -> None:
    entry, _ = next_entry(
        None,
        case_id=CASE_A,
        recorded_at=T0,
        actor="hub",
        actor_role=AgencyRole.HUB,
        event_id=None,
        action=AuditAction.ROUTED,
        categories={DataCategory.MINOR, DataCategory.IDENTITY},
        payload={"health": {"pregnant": True}},
        key_store=FixedKeyStore(),
    )
    assert entry.categories == (DataCategory.IDENTITY, DataCategory.HEALTH, DataCategory.MINOR)


def test_entry_without_personal_data_has_no_ciphertext_and_creates_no_key() -> None:
    store = MemoryKeyStore()
    entry, _ = next_entry(
        None,
        case_id=CASE_A,
        recorded_at=T0,
        actor="hub",
        actor_role=AgencyRole.HUB,
        event_id=None,
        action=AuditAction.ESCALATED,
        key_store=store,
    )
    assert entry.payload_ciphertext is None
    assert entry.key_id is None
    assert store.destroy(CASE_A) is False


def test_a_head_of_another_case_is_refused() -> None:
    head = ChainHead.of(make_chain(CASE_A, 1)[0])
    with pytest.raises(AuditEntryError, match="belongs to case"):
        next_entry(
            head,
            case_id=CASE_B,
            recorded_at=T0,
            actor="hub",
            actor_role=AgencyRole.HUB,
            event_id=None,
            action=AuditAction.RECEIVED,
            key_store=FixedKeyStore(),
        )


@pytest.mark.parametrize("tag", ["HEALTH", "medical", "unknown", "UNKNOWN"])
def test_payload_keys_must_be_category_tags(tag: str) -> None:
    with pytest.raises(AuditEntryError, match="not a data category tag"):
        next_entry(
            None,
            case_id=CASE_A,
            recorded_at=T0,
            actor="hub",
            actor_role=AgencyRole.HUB,
            event_id=None,
            action=AuditAction.RECEIVED,
            payload={tag: {"x": 1}},
            key_store=FixedKeyStore(),
        )


def test_head_of_is_the_highest_intact_entry() -> None:
    chain = make_chain(CASE_A, 4)
    altered = chain[3].model_copy(update={"actor": "someone-else"})
    assert head_of(chain) == ChainHead.of(chain[3])
    assert head_of([*chain[:3], altered]) == ChainHead.of(chain[2])
    assert head_of([]) is None


# ------------------------------------------------------------------------- verification


def test_untouched_interleaved_chains_verify_clean() -> None:
    log = interleaved(make_chain(CASE_A, 5), make_chain(CASE_B, 3), make_chain(CASE_C, 4))
    report = verify(log)
    assert report.ok, report.problems
    assert report.records == 12
    assert report.cases == 3
    assert report.heads[CASE_B] == ChainHead.of(make_chain(CASE_B, 3)[2])


def test_an_exact_duplicate_is_a_benign_redelivery() -> None:
    chain = make_chain(CASE_A, 4)
    report = verify([*chain[:3], chain[1], chain[3]])
    assert report.ok
    [duplicate] = report.duplicates
    assert (duplicate.seq, duplicate.position.index, duplicate.first_position.index) == (1, 3, 1)


def test_reprocessing_an_event_after_a_crash_gives_a_duplicate_not_a_fork() -> None:
    store = MemoryKeyStore()
    chain = make_chain(CASE_A, 3, store)
    replayed = make_chain(CASE_A, 3, store)[2]  # the worker restarts from the head before seq 2
    assert verify([*chain, replayed]).ok


def test_a_different_entry_at_a_used_seq_is_a_fork() -> None:
    chain = make_chain(CASE_A, 3)
    head = ChainHead.of(chain[1])
    other, _ = next_entry(
        head,
        case_id=CASE_A,
        recorded_at=T0,
        actor="labour-inspection-93",
        actor_role=AgencyRole.LABOUR_INSPECTORATE,
        event_id=None,
        action=AuditAction.ACKNOWLEDGED,
        key_store=FixedKeyStore(),
    )
    report = verify([*chain, other])
    assert kinds(report) == [ProblemKind.FORK]
    assert (report.problems[0].seq, report.problems[0].position) == (2, Position(3))
    assert "index 2" in report.problems[0].detail


Tamper = Callable[[list[AuditEntry]], list[AuditEntry]]


def altered(index: int, **changes: object) -> Tamper:
    return lambda log: [
        e.model_copy(update=changes) if i == index else e for i, e in enumerate(log)
    ]


def rehashed(index: int, **changes: object) -> Tamper:
    def tamper(log: list[AuditEntry]) -> list[AuditEntry]:
        changed = log[index].model_copy(update=changes)
        changed = changed.model_copy(update={"hash": entry_hash(changed)})
        return [changed if i == index else e for i, e in enumerate(log)]

    return tamper


def deleted(index: int) -> Tamper:
    return lambda log: log[:index] + log[index + 1 :]


def swapped(i: int, j: int) -> Tamper:
    def tamper(log: list[AuditEntry]) -> list[AuditEntry]:
        copy = list(log)
        copy[i], copy[j] = copy[j], copy[i]
        return copy

    return tamper


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        pytest.param(altered(2, actor="someone-else"), [(ProblemKind.BREAK, 2, 2)], id="content"),
        pytest.param(altered(2, hash=b"\x00" * 32), [(ProblemKind.BREAK, 2, 2)], id="hash-field"),
        pytest.param(
            altered(2, prev_hash=b"\x01" * 32), [(ProblemKind.BREAK, 2, 2)], id="prev-hash-field"
        ),
        pytest.param(
            rehashed(2, decision="refuse"), [(ProblemKind.BREAK, 3, 3)], id="content-rehashed"
        ),
        pytest.param(
            rehashed(0, prev_hash=b"\x01" * 32),
            [(ProblemKind.BREAK, 0, 0), (ProblemKind.BREAK, 1, 1)],
            id="not-genesis",
        ),
        pytest.param(deleted(2), [(ProblemKind.GAP, 2, 2)], id="delete-middle"),
        pytest.param(deleted(0), [(ProblemKind.GAP, 0, 0)], id="delete-first"),
        pytest.param(swapped(2, 3), [(ProblemKind.REORDER, 3, 2)], id="swap-adjacent"),
        pytest.param(
            swapped(1, 4),
            [(ProblemKind.REORDER, 4, 1), (ProblemKind.REORDER, 1, 4)],
            id="swap-apart",
        ),
    ],
)
def test_each_tampering_is_named_with_its_seq_and_position(
    tamper: Tamper, expected: list[tuple[ProblemKind, int, int]]
) -> None:
    report = verify(tamper(make_chain(CASE_A, 6)))
    found = [(p.kind, p.seq, p.position.index if p.position else None) for p in report.problems]
    assert found == expected


def test_deleting_the_last_entries_needs_a_known_head_to_be_seen() -> None:
    chain = make_chain(CASE_A, 5)
    assert verify(chain[:3]).ok  # nothing after them points back: invisible to the chain alone
    report = verify(chain[:3], heads={CASE_A: ChainHead.of(chain[4])})
    assert kinds(report) == [ProblemKind.TRUNCATED]
    assert report.problems[0].seq == 4
    assert report.problems[0].position == Position(2)


def test_a_case_missing_entirely_is_truncated_against_its_known_head() -> None:
    head = ChainHead.of(make_chain(CASE_B, 2)[1])
    report = verify(make_chain(CASE_A, 2), heads={CASE_B: head})
    assert kinds(report) == [ProblemKind.TRUNCATED]
    assert report.problems[0].position is None
    assert "hors du journal" in describe_problem(report.problems[0])


def test_an_entry_differing_from_the_known_head_is_a_fork() -> None:
    chain = make_chain(CASE_A, 3)
    known = ChainHead(case_id=CASE_A, seq=2, hash=b"\x07" * 32)
    assert kinds(verify(chain, heads={CASE_A: known})) == [ProblemKind.FORK]


def test_a_record_under_another_case_key_is_misplaced() -> None:
    entry = make_chain(CASE_A, 1)[0]
    record = LogRecord(Position(0, 2, 40), entry, key=str(CASE_B).encode())
    report = verify([record])
    assert kinds(report) == [ProblemKind.MISPLACED]
    assert "partition 2 offset 40" in describe_problem(report.problems[0])


def test_undecodable_bytes_are_corrupt_and_named_by_their_key() -> None:
    record = decode_record(
        CODEC,
        b"\x00\x00\x00\x00\x03garbage",
        key=str(CASE_A).encode(),
        position=Position(5),
        prove=no_proof,
    )
    report = verify([record])
    assert kinds(report) == [ProblemKind.CORRUPT]
    assert report.problems[0].case_id == CASE_A


def test_bytes_that_decode_to_the_same_entry_but_differ_are_corrupt() -> None:
    entry = make_chain(CASE_A, 1)[0]
    frame = CODEC.encode_event(entry)
    text = str(CASE_A).encode()
    upper = frame.replace(text, text.upper(), 1)  # a uuid reads the same in upper case
    record = decode_record(CODEC, upper, key=text, position=Position(0), prove=no_proof)
    assert record.entry == entry
    assert kinds(verify([record])) == [ProblemKind.CORRUPT]


# ------------------------------------------------------------------------- properties

CHAINS = {case: make_chain(case, 4) for case in (CASE_A, CASE_B, CASE_C)}
LOG = interleaved(*CHAINS.values())
FRAMES = [CODEC.encode_event(entry) for entry in LOG]
HEADS = {case: ChainHead.of(chain[-1]) for case, chain in CHAINS.items()}


def records_of(frames: list[bytes], entries: list[AuditEntry]) -> list[LogRecord]:
    return [
        decode_record(
            CODEC,
            frame,
            key=str(entry.case_id).encode(),
            position=Position(index),
            prove=no_proof,
        )
        for index, (frame, entry) in enumerate(zip(frames, entries, strict=True))
    ]


def test_the_untouched_framed_log_verifies_clean() -> None:
    assert verify(records_of(FRAMES, LOG), heads=HEADS).ok


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_single_byte_flip_is_named_at_its_position(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(FRAMES) - 1), label="record")
    frame = FRAMES[index]
    at = data.draw(st.integers(0, len(frame) - 1), label="byte")
    mask = data.draw(st.integers(1, 255), label="xor")
    flipped = bytearray(frame)
    flipped[at] ^= mask
    frames = [bytes(flipped) if i == index else f for i, f in enumerate(FRAMES)]
    report = verify(records_of(frames, LOG), heads=HEADS)
    assert not report.ok
    assert index in {p.position.index for p in report.problems if p.position}, report.problems


@settings(max_examples=100, deadline=None)
@given(index=st.integers(0, len(LOG) - 1))
def test_any_deletion_is_named_with_the_missing_seq(index: int) -> None:
    gone = LOG[index]
    report = verify(deleted(index)(LOG), heads=HEADS)
    named = {(p.kind, p.case_id, p.seq) for p in report.problems}
    last = gone.seq == HEADS[gone.case_id].seq
    assert (ProblemKind.TRUNCATED if last else ProblemKind.GAP, gone.case_id, gone.seq) in named


@settings(max_examples=100, deadline=None)
@given(
    case=st.sampled_from(list(CHAINS)),
    seqs=st.lists(st.integers(0, 3), min_size=2, max_size=2, unique=True),
)
def test_any_swap_of_two_entries_of_a_case_is_named_at_one_of_their_positions(
    case: UUID, seqs: list[int]
) -> None:
    i, j = sorted(LOG.index(CHAINS[case][seq]) for seq in seqs)
    report = verify(swapped(i, j)(LOG), heads=HEADS)
    assert kinds(report)
    assert set(kinds(report)) == {ProblemKind.REORDER}
    assert {i, j} & {p.position.index for p in report.problems if p.position}


@settings(max_examples=100, deadline=None)
@given(index=st.integers(0, len(LOG) - 1), later=st.integers(0, len(LOG)))
def test_any_redelivered_copy_is_benign(index: int, later: int) -> None:
    where = max(later, index + 1)
    log = [*LOG[:where], LOG[index], *LOG[where:]]
    report = verify(log, heads=HEADS)
    assert report.ok
    assert len(report.duplicates) == 1
