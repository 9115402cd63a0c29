"""Audit entries proven by the hub: a stored entry is believed only with the hub's signature.

The threat: anyone who can append to ``nrm.audit`` can compute a valid chain hash. Each case
below is a record an attacker (or an honest mistake) could store; the table says whether the
verifier believes it. The chain hash is valid in every case: only the signature decides.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agents.audit_index.hub_proof import HubProof, hub_proof
from hub.audit.chain import ChainHead, entry_hash, next_entry
from hub.audit.keys import MemoryKeyStore
from hub.audit.log_record import LogRecord, Position, ProblemKind, decode_record
from hub.audit.proof import ProofState
from hub.audit.replay import left_out, timeline
from hub.audit.subject_report import subject_report, subject_report_json
from hub.audit.verify import verify
from hub.cli.render_audit import describe_problem
from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole, AuditAction
from hub.contracts.hub_records import (
    AuditEntry,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import AUDIT, inbox_topic
from hub.runtime.settings import PROJECT_ROOT, HubSettings
from hub.trust.agency_keys import dev_key_path, load_private_key
from hub.trust.hub_keys import hub_public_keys
from hub.trust.signing import Header, HubSigner, RecordSigner, public_key_b64

CONFIG_DIR = PROJECT_ROOT / "deploy" / "config"
CODEC = Codec(SchemaRegistry.load(PROJECT_ROOT / "schemas"))
CASE = UUID("5a1d0c3e-0000-4000-8000-0000000000a1")
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
IDENTITY = {"identity": {"first_name": "Amina", "last_name": "K."}}

HUB = HubSigner.from_pem(dev_key_path(CONFIG_DIR, "hub"))
OLD_HUB = HubSigner(Ed25519PrivateKey.generate(), "hub-2025-1")
AGENCY = RecordSigner(load_private_key(dev_key_path(CONFIG_DIR, "police-93")), "police-93-2026-1")
STRANGER = RecordSigner(Ed25519PrivateKey.generate(), "hub-2026-1")  # claims the hub's key id
CURRENT_KEYS = hub_public_keys(CONFIG_DIR)
ROTATED_KEYS = hub_public_keys(CONFIG_DIR, [public_key_b64(OLD_HUB.private_key)])


def chain(length: int, store: MemoryKeyStore) -> list[AuditEntry]:
    head: ChainHead | None = None
    entries = []
    for seq in range(length):
        entry, head = next_entry(
            head,
            case_id=CASE,
            recorded_at=T0 + timedelta(minutes=seq),
            actor="hub",
            actor_role=AgencyRole.HUB,
            event_id=UUID(int=seq + 1),
            action=AuditAction.ROUTED,
            decision="route",
            legal_basis="consent:8d2f8f9e-5c1b-4a43-9d1e-3f3c1b2a0c11",
            recipient="prefecture-93",
            payload=IDENTITY,
            key_store=store,
        )
        entries.append(entry)
    return entries


def forged_after(entries: list[AuditEntry], store: MemoryKeyStore) -> AuditEntry:
    """The attacker's entry: identity data "disclosed" to an agency that received nothing,
    chained to the real head with a correctly computed hash."""
    entry, _ = next_entry(
        ChainHead.of(entries[-1]),
        case_id=CASE,
        recorded_at=T0 + timedelta(hours=1),
        actor="hub",
        actor_role=AgencyRole.HUB,
        event_id=UUID(int=99),
        action=AuditAction.DELIVERED,
        decision="delivered",
        legal_basis="consent:8d2f8f9e-5c1b-4a43-9d1e-3f3c1b2a0c11",
        recipient="prefecture-75",
        payload=IDENTITY,
        key_store=store,
    )
    return entry


@dataclass(frozen=True)
class Stored:
    key: bytes
    value: bytes
    headers: list[Header]


def stored(entry: AuditEntry, signer: RecordSigner | None, topic: str = AUDIT.name) -> Stored:
    key, value = str(entry.case_id).encode(), CODEC.encode_event(entry)
    return Stored(key, value, signer.sign(topic, key, value) if signer else [])


def tampered(entry: AuditEntry) -> Stored:
    """A genuine, hub-signed record whose entry is then altered and its hash recomputed."""
    original = stored(entry, HUB)
    changed = entry.model_copy(update={"recipient": "prefecture-57"})
    changed = changed.model_copy(update={"hash": entry_hash(changed)})
    return Stored(original.key, CODEC.encode_event(changed), original.headers)


def read(items: list[Stored], keys: tuple[str, ...] = CURRENT_KEYS) -> list[LogRecord]:
    prove = HubProof(keys)
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


Make = Callable[[AuditEntry], Stored]
CASES: list[tuple[str, Make, tuple[str, ...], ProofState, str]] = [
    ("genuine", lambda e: stored(e, HUB), CURRENT_KEYS, ProofState.PROVEN, ""),
    ("unsigned", lambda e: stored(e, None), CURRENT_KEYS, ProofState.UNPROVEN,
     "aucune signature lisible"),
    ("signed by an agency's key", lambda e: stored(e, AGENCY), CURRENT_KEYS,
     ProofState.UNPROVEN, "« police-93-2026-1 »"),
    ("signed by a stranger under the hub's key id", lambda e: stored(e, STRANGER), CURRENT_KEYS,
     ProofState.UNPROVEN, "ne se vérifie avec aucune clé du hub"),
    ("tampered after signing, hash recomputed", tampered, CURRENT_KEYS, ProofState.UNPROVEN,
     "ne se vérifie avec aucune clé du hub"),
    ("signed by the hub for an inbox, copied here",
     lambda e: stored(e, HUB, inbox_topic("prefecture-75")), CURRENT_KEYS, ProofState.UNPROVEN,
     "ne se vérifie avec aucune clé du hub"),
    ("signed by a previous hub key that is configured", lambda e: stored(e, OLD_HUB),
     ROTATED_KEYS, ProofState.PROVEN, ""),
    ("signed by a previous hub key no longer configured", lambda e: stored(e, OLD_HUB),
     CURRENT_KEYS, ProofState.UNPROVEN, "« hub-2025-1 »"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "keys", "state", "detail"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_last_entry_is_believed_only_with_the_hub_signature(
    make: Make, keys: tuple[str, ...], state: ProofState, detail: str
) -> None:
    store = MemoryKeyStore()
    genuine = chain(3, store)
    last = forged_after(genuine, store)
    records = read([*(stored(e, HUB) for e in genuine), make(last)], keys)
    assert records[-1].proof.state is state
    report = verify(records)
    if state is ProofState.PROVEN:
        assert report.ok, [describe_problem(p) for p in report.problems]
        assert report.proven == 4
        return
    assert [(p.kind, p.case_id, p.seq) for p in report.problems] == [
        (ProblemKind.UNPROVEN, CASE, 3)
    ]
    # The machine's reason stays whole, in English, for logs; the operator reads French.
    assert (records[-1].proof.reason or "").startswith("BAD_SIGNATURE: ")
    line = describe_problem(report.problems[0])
    assert line.startswith(f"UNPROVEN : dossier {CASE} entrée 3 (partition 0 offset 103) : ")
    assert detail in line
    assert report.proven == 3
    assert [r.seq for r in timeline(records, store)] == [0, 1, 2]
    subject = subject_report(CASE, records)
    assert {d.recipient for d in subject.disclosures} == {"prefecture-93"}
    assert [(o.seq, o.position.offset) for o in subject.left_out] == [(3, 103)]
    assert subject_report_json(subject)["left_out"][0]["seq"] == 3


def test_a_genuine_entry_after_a_forged_one_is_no_fork_and_a_poisoned_head_no_truncation() -> None:
    store = MemoryKeyStore()
    genuine = chain(4, store)
    forged = forged_after(genuine[:3], store)  # claims seq 3 before the hub writes its own
    records = read([*(stored(e, HUB) for e in genuine[:3]), stored(forged, None)])
    records += read([stored(genuine[3], HUB)])
    records[-1] = LogRecord(
        Position(4, 0, 104), records[-1].entry, records[-1].key, proof=records[-1].proof
    )
    # The index learnt its head from the forged entry: that is not a truncation of the chain.
    report = verify(records, heads={CASE: ChainHead.of(forged)})
    assert [(p.kind, p.seq, p.position) for p in report.problems] == [
        (ProblemKind.UNPROVEN, 3, Position(3, 0, 103))
    ]
    assert report.heads[CASE] == ChainHead.of(genuine[3])
    assert [r.recipient for r in timeline(records, store)] == ["prefecture-93"] * 4
    assert [o.seq for o in left_out(records)] == [3]


def test_plain_entries_and_unchecked_records_are_not_refused() -> None:
    store = MemoryKeyStore()
    entries = chain(2, store)
    assert verify(entries).ok
    assert verify(entries).proven == 0
    assert len(subject_report(CASE, entries).disclosures) == 2


def test_the_hub_keys_come_from_the_config_dir_and_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = public_key_b64(OLD_HUB.private_key)
    monkeypatch.setenv("HUB_PREVIOUS_HUB_PUBLIC_KEYS", json.dumps([old]))
    settings = HubSettings(config_dir=CONFIG_DIR)
    assert settings.previous_hub_public_keys == (old,)
    check = hub_proof(settings)
    entry = chain(1, MemoryKeyStore())[0]
    for signer in (HUB, OLD_HUB):
        s = stored(entry, signer)
        assert check(s.key, s.value, s.headers).state is ProofState.PROVEN


@pytest.mark.parametrize(
    ("previous", "message"),
    [
        ((), "impossible de lire la clé publique du hub"),
        (("bm90IGEga2V5",), "previous_hub_public_keys"),
    ],
)
def test_unusable_hub_keys_are_one_clear_error(
    tmp_path: Path, previous: tuple[str, ...], message: str
) -> None:
    if previous:
        (tmp_path / "hub-public-key.txt").write_text(CURRENT_KEYS[0] + "\n")
    with pytest.raises(ValueError, match=message) as raised:
        hub_public_keys(tmp_path, previous)
    assert "\n" not in str(raised.value)


def test_an_altered_hub_entry_is_named_a_break_not_only_unproven() -> None:
    store = MemoryKeyStore()
    entries = chain(3, store)
    altered = stored(entries[1], HUB)
    ciphertext = entries[1].payload_ciphertext or b""
    at = altered.value.index(ciphertext) + 5
    value = altered.value[:at] + bytes([altered.value[at] ^ 1]) + altered.value[at + 1 :]
    records = read([stored(entries[0], HUB), Stored(altered.key, value, altered.headers)])
    assert records[1].proof.refused
    report = verify([*records, *read([stored(entries[2], HUB)])])
    assert {p.kind for p in report.problems} == {ProblemKind.BREAK}
    assert [r.seq for r in timeline(records, store)] == [0]


def test_a_hub_entry_moved_under_another_case_key_is_named_misplaced() -> None:
    entry = chain(1, MemoryKeyStore())[0]
    genuine = stored(entry, HUB)
    moved = Stored(str(UUID(int=7)).encode(), genuine.value, genuine.headers)
    [record] = read([moved])
    assert record.proof.refused
    assert [p.kind for p in verify([record]).problems] == [ProblemKind.MISPLACED]
