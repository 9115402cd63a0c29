"""Audit entries signed once per batch, from the attacker's side.

The worker signs a batch's entries with one signature over a Merkle root
(``hub.trust.batch_signing``). The promise is unchanged: ``verify`` names the case and seq of
every entry altered, dropped, reordered or forged, and of every entry whose batch signature
was forged; each entry still proves itself alone; chains signed entry by entry (before) still
verify, also when a case's chain continues under batch signatures; replay and the subject
report read batch-signed entries exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agents.audit_index.hub_proof import HubProof
from hub.audit.chain import ChainHead, entry_hash, next_entry
from hub.audit.keys import MemoryKeyStore
from hub.audit.log_record import LogRecord, Position, ProblemKind, decode_record
from hub.audit.proof import ProofState
from hub.audit.replay import timeline
from hub.audit.subject_report import subject_report
from hub.audit.verify import verify
from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole, AuditAction
from hub.contracts.hub_records import AuditEntry
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import AUDIT
from hub.runtime.settings import PROJECT_ROOT
from hub.trust.agency_keys import dev_key_path
from hub.trust.batch_signing import MERKLE_HEADER, sign_batch
from hub.trust.hub_keys import hub_public_keys
from hub.trust.signing import SIGNATURE_HEADER, Header, HubSigner

CONFIG_DIR = PROJECT_ROOT / "deploy" / "config"
CODEC = Codec(SchemaRegistry.load(PROJECT_ROOT / "schemas"))
HUB = HubSigner.from_pem(dev_key_path(CONFIG_DIR, "hub"))
STRANGER = HubSigner(Ed25519PrivateKey.generate(), HUB.key_id)
KEYS = hub_public_keys(CONFIG_DIR)
CASE_A = UUID("5a1d0c3e-0000-4000-8000-0000000000a1")
CASE_B = UUID("5a1d0c3e-0000-4000-8000-0000000000b2")
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
IDENTITY = {"identity": {"first_name": "Amina", "last_name": "K."}}


def _entry(head: ChainHead | None, case: UUID, n: int, store: MemoryKeyStore) -> AuditEntry:
    entry, _ = next_entry(
        head,
        case_id=case,
        recorded_at=T0 + timedelta(minutes=n),
        actor="hub",
        actor_role=AgencyRole.HUB,
        event_id=UUID(int=n + 1),
        action=AuditAction.ROUTED,
        decision="route",
        legal_basis="consent:8d2f8f9e-5c1b-4a43-9d1e-3f3c1b2a0c11",
        recipient="prefecture-93",
        payload=IDENTITY,
        key_store=store,
    )
    return entry


def interleaved(store: MemoryKeyStore, per_case: int = 4) -> list[AuditEntry]:
    """Two cases' chains, interleaved as a worker's batch writes them: A0 B0 A1 B1 ..."""
    heads: dict[UUID, ChainHead | None] = {CASE_A: None, CASE_B: None}
    log = []
    for n in range(per_case):
        for case in (CASE_A, CASE_B):
            entry = _entry(heads[case], case, n, store)
            heads[case] = ChainHead.of(entry)
            log.append(entry)
    return log


@dataclass(frozen=True)
class Stored:
    key: bytes
    value: bytes
    headers: list[Header]


def batch_signed(entries: list[AuditEntry], signer: HubSigner = HUB) -> list[Stored]:
    records = [(str(e.case_id).encode(), CODEC.encode_event(e)) for e in entries]
    signed = sign_batch(signer, AUDIT.name, records)
    return [Stored(k, v, h) for (k, v), h in zip(records, signed, strict=True)]


def read(items: list[Stored]) -> list[LogRecord]:
    prove = HubProof(KEYS)
    return [
        decode_record(
            CODEC,
            s.value,
            key=s.key,
            position=Position(i, 0, 100 + i),
            prove=prove,
            headers=s.headers,
        )
        for i, s in enumerate(items)
    ]


def found(items: list[Stored]) -> list[tuple[ProblemKind, UUID | None, int | None, int | None]]:
    report = verify(read(items))
    return [
        (p.kind, p.case_id, p.seq, p.position.offset if p.position else None)
        for p in report.problems
    ]


def test_a_batch_signed_log_verifies_clean_and_reads_as_before() -> None:
    store = MemoryKeyStore()
    log = interleaved(store)
    records = read(batch_signed(log))
    assert all(r.proof.state is ProofState.PROVEN for r in records)
    report = verify(records)
    assert report.ok, [p.describe() for p in report.problems]
    assert report.proven == len(log)
    assert report.heads == {CASE_A: ChainHead.of(log[-2]), CASE_B: ChainHead.of(log[-1])}
    # Replay and the subject report: unchanged by how the entries were signed.
    assert [
        r.seq for r in timeline([r for r in records if r.key == str(CASE_A).encode()], store)
    ] == [0, 1, 2, 3]
    assert len(subject_report(CASE_B, records).disclosures) == 4
    assert subject_report(CASE_B, records).left_out == ()


def test_one_entry_proves_itself_without_the_rest_of_its_batch() -> None:
    # A reader fetching one case's entries by offset sees only them.
    log = interleaved(MemoryKeyStore())
    only_b = [s for s in batch_signed(log) if s.key == str(CASE_B).encode()]
    report = verify(read(only_b))
    assert report.ok
    assert report.proven == 4


def test_an_old_per_entry_signed_chain_continues_under_batch_signatures() -> None:
    store = MemoryKeyStore()
    log = interleaved(store)
    before = [
        Stored(k, v, HUB.sign(AUDIT.name, k, v))
        for k, v in ((str(e.case_id).encode(), CODEC.encode_event(e)) for e in log[:4])
    ]
    report = verify(read([*before, *batch_signed(log[4:])]))
    assert report.ok, [p.describe() for p in report.problems]
    assert report.proven == len(log)


Attack = Callable[[list[Stored], MemoryKeyStore, list[AuditEntry]], list[Stored]]


def _flip_payload(stored: Stored, entry: AuditEntry) -> Stored:
    at = stored.value.index(entry.payload_ciphertext or b"") + 5
    return replace(
        stored, value=stored.value[:at] + bytes([stored.value[at] ^ 1]) + stored.value[at + 1 :]
    )


def altered(index: int) -> Attack:
    return lambda s, _, log: [
        _flip_payload(x, log[i]) if i == index else x for i, x in enumerate(s)
    ]


def altered_rehashed_last(
    s: list[Stored], _: MemoryKeyStore, log: list[AuditEntry]
) -> list[Stored]:
    # The attacker rewrites the last entry of case B and recomputes its hash: the chain
    # alone cannot see it (nothing points back to it); the batch signature does.
    changed = log[-1].model_copy(update={"recipient": "prefecture-57"})
    changed = changed.model_copy(update={"hash": entry_hash(changed)})
    return [*s[:-1], replace(s[-1], value=CODEC.encode_event(changed))]


def dropped(index: int) -> Attack:
    return lambda s, _, __: s[:index] + s[index + 1 :]


def swapped(i: int, j: int) -> Attack:
    def attack(s: list[Stored], _: MemoryKeyStore, __: list[AuditEntry]) -> list[Stored]:
        copy = list(s)
        copy[i], copy[j] = copy[j], copy[i]
        return copy

    return attack


def forged_with_copied_headers(
    s: list[Stored], store: MemoryKeyStore, log: list[AuditEntry]
) -> list[Stored]:
    # A DELIVERED chained after A's head with a correct hash, wearing a genuine record's
    # batch signature and path: the path leads to another root.
    forged = _entry(ChainHead.of(log[-2]), CASE_A, 9, store)
    return [*s, Stored(str(CASE_A).encode(), CODEC.encode_event(forged), s[-2].headers)]


def forged_batch(s: list[Stored], store: MemoryKeyStore, log: list[AuditEntry]) -> list[Stored]:
    # The attacker builds a whole batch of his own, signed under the hub's key id.
    forged = _entry(ChainHead.of(log[-2]), CASE_A, 9, store)
    return [*s, *batch_signed([forged], STRANGER)]


def _with(stored: Stored, name: str, change: Callable[[bytes], bytes]) -> Stored:
    return replace(stored, headers=[(n, change(v) if n == name else v) for n, v in stored.headers])


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


def signature_forged(s: list[Stored], _: MemoryKeyStore, __: list[AuditEntry]) -> list[Stored]:
    # The batch's one signature altered in every record that carries it.
    return [_with(x, SIGNATURE_HEADER, _flip) for x in s]


def path_forged(index: int) -> Attack:
    return lambda s, _, __: [
        _with(x, MERKLE_HEADER, lambda p: p[:8] + _flip(p[8:])) if i == index else x
        for i, x in enumerate(s)
    ]


A, B = CASE_A, CASE_B
U, BR, G, R = ProblemKind.UNPROVEN, ProblemKind.BREAK, ProblemKind.GAP, ProblemKind.REORDER
ATTACKS: list[tuple[str, Attack, list[tuple[ProblemKind, UUID | None, int | None, int | None]]]] = [
    ("entry altered", altered(2), [(BR, A, 1, 102)]),
    ("last entry altered, hash recomputed", altered_rehashed_last, [(U, B, 3, 107)]),
    # Named at the first entry after the hole (the log re-read: offsets close up here).
    ("entry dropped", dropped(4), [(G, A, 2, 105)]),
    ("first entry dropped", dropped(1), [(G, B, 0, 102)]),
    ("entries of a case reordered", swapped(2, 4), [(R, A, 2, 102)]),
    (
        "forged entry wearing a genuine batch signature",
        forged_with_copied_headers,
        [(U, A, 4, 108)],
    ),
    ("forged entry in the attacker's own batch", forged_batch, [(U, A, 4, 108)]),
    # Left out of the chain, the unproven entry leaves a gap before the next one.
    ("an inclusion path altered", path_forged(5), [(U, B, 2, 105), (G, B, 2, 107)]),
    (
        "the batch signature forged",
        signature_forged,
        sorted(
            [(U, c, seq, 100 + 2 * seq + (c == B)) for seq in range(4) for c in (A, B)],
            key=lambda p: p[3],
        ),
    ),
]


@pytest.mark.parametrize(
    ("attack", "expected"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS]
)
def test_verify_names_the_case_and_seq_of_each_attack(
    attack: Attack, expected: list[tuple[ProblemKind, UUID | None, int | None, int | None]]
) -> None:
    store = MemoryKeyStore()
    log = interleaved(store)
    assert found(attack(batch_signed(log), store, log)) == expected
