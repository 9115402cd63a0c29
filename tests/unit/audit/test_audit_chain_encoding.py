"""The chain's canonical encoding, computed from the fields before the entry exists, is byte
for byte version 1 as first written; and ``next_entry`` makes the entry its validation makes."""

from __future__ import annotations

import hashlib
import struct
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from audit_entries import FixedKeyStore, audit_entries
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from hub.audit.chain import ChainHead, canonical_bytes, entry_hash, next_entry
from hub.contracts.enums import AgencyRole, AuditAction, DataCategory, LawfulBasis
from hub.contracts.hub_records import AuditEntry

# ---------------------------------------------------- version 1 as first written (the spec)


def _blob(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _text(value: str) -> bytes:
    return _blob(value.encode())


def _optional(data: bytes | None) -> bytes:
    return b"\x00" if data is None else b"\x01" + _blob(data)


def reference_bytes(entry: AuditEntry) -> bytes:
    millis = (entry.recorded_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    bases = (
        b"\x02"
        + struct.pack(">I", len(entry.lawful_bases))
        + b"".join(_text(basis.value) for basis in entry.lawful_bases)
        if entry.lawful_bases
        else b""
    )
    return b"".join(
        (
            b"nrm.audit.entry.v1\x00",
            entry.case_id.bytes,
            struct.pack(">qq", entry.seq, millis),
            _text(entry.actor),
            _text(entry.actor_role.value),
            _optional(entry.event_id.bytes if entry.event_id else None),
            _text(entry.action.value),
            _optional(entry.decision.encode() if entry.decision is not None else None),
            _optional(entry.reason.encode() if entry.reason is not None else None),
            _optional(entry.legal_basis.encode() if entry.legal_basis is not None else None),
            _optional(entry.recipient.encode() if entry.recipient is not None else None),
            struct.pack(">I", len(entry.categories)),
            b"".join(_text(category.value) for category in entry.categories),
            _optional(entry.payload_ciphertext),
            _optional(entry.key_id.encode() if entry.key_id is not None else None),
            _blob(entry.prev_hash),
            bases,
        )
    )


# ---------------------------------------------------------------------------- generated cases

texts = st.text(max_size=80)
optional_texts = st.none() | texts
instants = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2400, 1, 1),
    # naive (taken as UTC), UTC, and an offset the entry normalises away
    timezones=st.none() | st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=45))]),
)


@st.composite
def arguments(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "recorded_at": draw(instants),
        "actor": draw(texts),
        "actor_role": draw(st.sampled_from(AgencyRole)),
        "event_id": draw(st.none() | st.uuids()),
        "action": draw(st.sampled_from(AuditAction)),
        "decision": draw(optional_texts),
        "reason": draw(optional_texts),
        "legal_basis": draw(optional_texts),
        "recipient": draw(optional_texts),
        "categories": draw(st.frozensets(st.sampled_from(DataCategory))),
        "payload": draw(
            st.none()
            | st.dictionaries(
                st.sampled_from(["identity", "health", "contact"]),
                st.dictionaries(texts, texts, max_size=3),
                max_size=3,
            )
        ),
        "lawful_bases": tuple(draw(st.lists(st.sampled_from(LawfulBasis), max_size=4))),
    }


heads = st.none() | st.builds(
    ChainHead,
    case_id=st.just(UUID(int=42)),
    seq=st.integers(min_value=0, max_value=2**62),
    hash=st.binary(min_size=32, max_size=32),
)


@hypothesis_settings(max_examples=300, deadline=None)
@given(heads, arguments())
def test_next_entry_hashes_the_entry_it_makes(
    head: ChainHead | None, kwargs: dict[str, Any]
) -> None:
    """The hash, computed from the arguments before the entry is made, is version 1 of the
    validated entry's bytes: with a naive instant, another offset, microseconds, any text."""
    entry, new_head = next_entry(head, case_id=UUID(int=42), key_store=FixedKeyStore(), **kwargs)
    assert entry.hash == hashlib.sha256(reference_bytes(entry)).digest()
    assert entry == AuditEntry.model_validate(entry.model_dump())
    assert new_head == ChainHead(case_id=entry.case_id, seq=entry.seq, hash=entry.hash)


def entries() -> st.SearchStrategy[AuditEntry]:
    return audit_entries(
        texts=texts,
        instants=instants,
        ciphertexts=st.binary(max_size=100),
        max_categories=12,
        max_hash=40,
    )


@hypothesis_settings(max_examples=300, deadline=None)
@given(entries())
def test_canonical_bytes_are_version_1_as_first_written(entry: AuditEntry) -> None:
    assert canonical_bytes(entry) == reference_bytes(entry)
    assert entry_hash(entry) == hashlib.sha256(reference_bytes(entry)).digest()


def test_every_category_but_unknown_may_key_a_payload_by_its_tag() -> None:
    for category in DataCategory:
        if category is DataCategory.UNKNOWN:
            continue
        entry, _ = next_entry(
            None,
            case_id=UUID(int=42),
            recorded_at=datetime(2026, 3, 2, tzinfo=UTC),
            actor="hub",
            actor_role=AgencyRole.HUB,
            event_id=None,
            action=AuditAction.RECEIVED,
            payload={category.tag: {"x": 1}},
            key_store=FixedKeyStore(),
        )
        assert entry.categories == (category,)
