"""Shared by the audit chain's and the audit entry writer's tests: a key store with one
constant key (reproducible ciphertexts, hence hashes) and generated audit entries."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from hypothesis import strategies as st

from hub.contracts.enums import AgencyRole, AuditAction, DataCategory, LawfulBasis
from hub.contracts.hub_records import AuditEntry


class FixedKeyStore:
    """One constant key for every case: makes ciphertexts, hence hashes, reproducible."""

    def get_or_create(self, case_id: UUID) -> tuple[str, bytes]:
        return f"{case_id}.00000000", bytes(range(32))

    def get(self, key_id: str) -> bytes | None:
        return bytes(range(32))

    def destroy(self, case_id: UUID) -> bool:
        return False

    def flush(self) -> None:
        pass


def audit_entries(
    *,
    texts: st.SearchStrategy[str],
    instants: st.SearchStrategy[datetime],
    ciphertexts: st.SearchStrategy[bytes],
    max_categories: int,
    max_hash: int,
) -> st.SearchStrategy[AuditEntry]:
    """Any audit entry, every field drawn independently (not a valid chain link)."""
    optional_texts = st.none() | texts
    hashes = st.binary(max_size=max_hash)
    return st.builds(
        AuditEntry,
        case_id=st.uuids(),
        seq=st.integers(min_value=-(2**63), max_value=2**63 - 1),
        recorded_at=instants,
        actor=texts,
        actor_role=st.sampled_from(AgencyRole),
        event_id=st.none() | st.uuids(),
        action=st.sampled_from(AuditAction),
        decision=optional_texts,
        reason=optional_texts,
        legal_basis=optional_texts,
        recipient=optional_texts,
        categories=st.lists(st.sampled_from(DataCategory), max_size=max_categories).map(tuple),
        payload_ciphertext=st.none() | ciphertexts,
        key_id=optional_texts,
        lawful_bases=st.lists(st.sampled_from(LawfulBasis), max_size=6).map(tuple),
        prev_hash=hashes,
        hash=hashes,
    )
