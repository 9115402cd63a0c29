"""Ingest's refusals, as a table: each bad record and the dead-letter reason it must get.

What each refusal promises (docs/SIGNING.md, ARCHITECTURE principles 2 and 6): the sender is
the owner of the outbox whose key verifies the signature, never a payload field; the bytes
are a registered, valid event, keyed and partitioned by its case; a refused record is a dead
letter with its machine reason, never routed and never dropped silently. A good record is
accepted as a typed event from its outbox's owner, and a re-drive is ingested again as the
original record.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from redrive_records import HUB_KEYS, OPERATOR, OPERATOR_KEYS, redrive_record

from hub.audit.keys import KeyStore, MemoryKeyStore
from hub.contracts.codec import Codec
from hub.contracts.enums import DeadLetterReason, ExploitationType
from hub.contracts.events import (
    ExploitationDetails,
    PermitRequested,
    ReferralOpened,
    subject_of,
)
from hub.contracts.examples import example_events
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.contracts.partitioning import case_partition
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import REDRIVE, outbox_topic
from hub.flow.dead_letters import (
    rejected_letter,
)
from hub.flow.decisions import Inbound
from hub.flow.ingest import (
    RawRecord,
    Rejected,
    Unreadable,
    ingest,
)
from hub.flow.sealed_letters import MAX_ORIGINAL_BYTES, seal_letter
from hub.rules.directory import Directory
from hub.rules.indicators import Indicator, IndicatorGrid
from hub.runtime.settings import get_settings
from hub.trust.agency_keys import dev_key_path, load_private_key
from hub.trust.signing import RecordSigner, to_ms
from hub.trust.verification import RecordVerifier

R = DeadLetterReason
SENDER = "police-93"
OTHER = "association-93"
PARTITIONS = 4
CONFIG = get_settings().config_dir
DIRECTORY = Directory.load(CONFIG)
GRID = IndicatorGrid.load(CONFIG)
REGISTRY = SchemaRegistry.load(get_settings().schemas_dir)
CODEC = Codec(REGISTRY)
VERIFIER = RecordVerifier()
EXAMPLES = {type(event): event for _sender, event in example_events()}


def signer(agency_id: str) -> RecordSigner:
    agency = DIRECTORY.get(agency_id)
    assert agency is not None
    return RecordSigner.for_agency(agency, load_private_key(dev_key_path(CONFIG, agency_id)))


SIGNERS = {agency_id: signer(agency_id) for agency_id in (SENDER, OTHER)}


@dataclass(frozen=True)
class Record:
    """What an agency writes to an outbox, before it is signed."""

    topic: str = outbox_topic(SENDER)
    key: bytes | None = None
    value: bytes | None = None
    partition: int | None = None
    signed_by: str | None = SENDER
    signed_for: str | None = None
    signed_at: datetime | None = None

    def read(self, offset: int = 7) -> RawRecord:
        """The record as the worker reads it back."""
        event = EXAMPLES[PermitRequested]
        case_id = event.envelope.case_id
        key = str(case_id).encode() if self.key is None else self.key
        value = CODEC.encode_event(event) if self.value is None else self.value
        headers: list[tuple[str, bytes]] = []
        if self.signed_by is not None:
            stamp = to_ms(self.signed_at) if self.signed_at is not None else None
            headers = SIGNERS[self.signed_by].sign(
                self.signed_for or self.topic, key, value, timestamp_ms=stamp
            )
        return RawRecord(
            topic=self.topic,
            partition=(
                case_partition(case_id, PARTITIONS) if self.partition is None else self.partition
            ),
            offset=offset,
            key=key,
            value=value,
            timestamp_ms=to_ms(datetime.now(UTC)),
            headers=tuple(headers),
            partitions=PARTITIONS,
        )


def framed(record: dict[str, Any], *, schema_id: int | None = None) -> bytes:
    """``record`` as a PermitRequested frame (optionally under another schema id)."""
    value = Codec(REGISTRY, max_record_bytes=2**22).encode(subject_of(PermitRequested), record)
    return value if schema_id is None else struct.pack(">BI", 0, schema_id) + value[5:]


def permit(**changes: Any) -> dict[str, Any]:
    return {**EXAMPLES[PermitRequested].model_dump(), **changes}


def of(event: BaseModel) -> bytes:
    return CODEC.encode_event(event)


def referral(**changes: Any) -> bytes:
    """The example referral (police-93 may send it), with ``changes``."""
    return of(EXAMPLES[ReferralOpened].model_copy(update=changes))


def run(raw: RawRecord) -> Inbound | Rejected | Unreadable:
    return ingest(
        raw,
        CODEC,
        DIRECTORY,
        VERIFIER,
        lambda _topic: PARTITIONS,
        indicators=GRID,
        hub_keys=HUB_KEYS,
        operator_keys=OPERATOR_KEYS,
    )


@dataclass(frozen=True)
class Case:
    """A bad record, the reason it must be refused for, and what else the refusal keeps."""

    name: str
    record: Record
    reason: DeadLetterReason
    detail: str = ""
    keeps_ids: bool = False


CASES = [
    Case("not a frame", Record(value=b"\x01 not avro at all"), R.CORRUPT_FRAME, "magic"),
    Case("no value", Record(value=b""), R.CORRUPT_FRAME),
    Case(
        "truncated frame",
        Record(value=of(EXAMPLES[PermitRequested])[:-3]),
        R.CORRUPT_FRAME,
        "PermitRequested",
    ),
    Case(
        "unknown schema id",
        Record(value=framed(permit(), schema_id=987_654)),
        R.UNKNOWN_SCHEMA_ID,
        "987654",
    ),
    Case(
        "valid Avro, invalid event",
        Record(value=framed(permit(departement="00"))),
        R.SCHEMA_VIOLATION,
        "departement",
        keeps_ids=True,
    ),
    Case(
        "oversize",
        Record(value=framed(permit(legal_basis="x" * (600 * 1024)))),
        R.OVERSIZE,
        "limit",
    ),
    Case(
        "an outbox no agency owns",
        Record(topic=outbox_topic("nobody-99"), signed_by=None),
        R.SPOOFED_SENDER,
        "nobody-99",
        keeps_ids=True,
    ),
    # A signature refusal keeps the ids the record claims: its dead letter is then sealed
    # under that case's key (hub/flow/sealed_letters.py) instead of kept in clear.
    Case("unsigned", Record(signed_by=None), R.BAD_SIGNATURE, keeps_ids=True),
    Case(
        "signed by another agency",
        Record(signed_by=OTHER),
        R.BAD_SIGNATURE,
        OTHER,
        keeps_ids=True,
    ),
    Case(
        "signed for another outbox (moved)",
        Record(topic=outbox_topic(OTHER), signed_by=SENDER, signed_for=outbox_topic(SENDER)),
        R.BAD_SIGNATURE,
        keeps_ids=True,
    ),
    Case(
        "signed two days ago",
        Record(signed_at=datetime.now(UTC) - timedelta(days=2)),
        R.STALE_SIGNATURE,
        keeps_ids=True,
    ),
    Case(
        "signed in an hour",
        Record(signed_at=datetime.now(UTC) + timedelta(hours=1)),
        R.STALE_SIGNATURE,
        keeps_ids=True,
    ),
    Case(
        "keyed by something else",
        Record(key=b"not-the-case-id"),
        R.SEMANTIC_VIOLATION,
        "keyed",
        keeps_ids=True,
    ),
    Case(
        "on another partition than its case's",
        Record(partition=(case_partition(EXAMPLES[PermitRequested].envelope.case_id, 4) + 1) % 4),
        R.SEMANTIC_VIOLATION,
        "partitioned",
        keeps_ids=True,
    ),
    Case(
        "an indicator code outside the shared grid",
        Record(value=referral(indicator_codes=("ILO-FL-02", "TRAV-01"))),
        R.UNKNOWN_INDICATOR,
        "indicator code 'TRAV-01' is not in the indicator grid",
    ),
    Case(
        "an unknown code hidden in the exploitation details",
        Record(
            value=referral(exploitation=ExploitationDetails(indicator_codes=("passeport retenu",)))
        ),
        R.UNKNOWN_INDICATOR,
        "'passeport retenu'",
    ),
    Case(
        "a sexual-exploitation indicator on a labour-only referral",
        Record(value=referral(indicator_codes=("UNODC-SX-02",))),
        R.INDICATOR_FORM_MISMATCH,
        "UNODC-SX-02 is specific to SEXUAL",
    ),
    Case(
        "a type only the hub emits",
        Record(value=of(EXAMPLES[DeadLetter])),
        R.SEMANTIC_VIOLATION,
        "only the hub",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_record_is_refused_with_its_reason(case: Case) -> None:
    raw = case.record.read()
    refused = run(raw)
    assert isinstance(refused, Rejected), refused
    assert refused.reason is case.reason, refused.detail
    assert case.detail in refused.detail
    assert refused.raw == raw  # the dead letter carries the record exactly as read
    event = EXAMPLES[PermitRequested]
    if case.keeps_ids:  # operators can find the case it claimed to be about
        assert refused.case_id == event.envelope.case_id
        assert refused.event_id == event.envelope.event_id
    # Its refusal notice tells the outbox's owner whether its own signature was on it.
    signature_reasons = {R.BAD_SIGNATURE, R.STALE_SIGNATURE}
    owned = DIRECTORY.get(case.record.topic.removeprefix("nrm.outbox.")) is not None
    assert refused.authenticated is (owned and case.reason not in signature_reasons)
    letter = rejected_letter(refused)
    # The original bytes travel with the dead letter, cut to a size the letter itself fits.
    assert (letter.reason, letter.original, letter.source_offset) == (
        case.reason,
        (raw.value or b"")[:MAX_ORIGINAL_BYTES],
        raw.offset,
    )


def test_a_good_record_is_one_typed_event_from_its_outbox_owner() -> None:
    raw = Record().read()
    accepted = run(raw)
    assert isinstance(accepted, Inbound), accepted
    assert accepted.event == EXAMPLES[PermitRequested]
    assert accepted.sender.id == SENDER
    assert (accepted.topic, accepted.partition, accepted.offset) == (
        raw.topic,
        raw.partition,
        raw.offset,
    )
    assert not accepted.redriven


def test_an_indicator_refusal_names_the_referral_and_its_case() -> None:
    event = EXAMPLES[ReferralOpened]
    refused = run(Record(value=referral(indicator_codes=("DOC-01",))).read())
    assert isinstance(refused, Rejected)
    assert refused.detail.startswith("fr.nrm.ReferralOpened: ")
    assert (refused.case_id, refused.event_id) == (event.envelope.case_id, event.envelope.event_id)
    assert refused.schema_id == REGISTRY.latest(subject_of(ReferralOpened)).schema_id


def test_a_sexual_indicator_fits_a_referral_that_names_sexual_exploitation() -> None:
    forms = (ExploitationType.LABOUR, ExploitationType.SEXUAL)
    value = referral(indicator_codes=("UNODC-SX-02",), exploitation_types=forms)
    assert isinstance(run(Record(value=value).read()), Inbound)


def redrive_of(raw: RawRecord, at: datetime, offset: int = 3) -> RawRecord:
    """The re-drive an operator writes for ``raw``'s dead letter, first received ``at``."""
    refused = Rejected(replace(raw, timestamp_ms=to_ms(at)), R.PROCESSING_ERROR, "a defect")
    return redrive_record(rejected_letter(refused), CODEC, offset=offset)


def test_a_redrive_is_the_original_record_checked_at_its_first_receipt() -> None:
    first_seen = datetime.now(UTC) - timedelta(days=3)
    original = Record(signed_at=first_seen - timedelta(seconds=1)).read()
    assert isinstance(run(original), Rejected)  # too old to verify against now
    accepted = run(redrive_of(original, first_seen))
    assert isinstance(accepted, Inbound), accepted
    assert accepted.redriven
    assert (accepted.topic, accepted.offset) == (original.topic, original.offset)


def test_a_redrive_refused_again_is_a_new_dead_letter() -> None:
    original = Record(key=b"not-the-case-id").read()
    first = run(original)
    again = run(redrive_of(original, datetime.now(UTC), offset=11))
    assert isinstance(first, Rejected)
    assert isinstance(again, Rejected)
    assert again.reason is first.reason is R.SEMANTIC_VIOLATION
    assert again.again == "redrive/0/11"
    assert rejected_letter(again).dead_letter_id != rejected_letter(first).dead_letter_id


@pytest.mark.parametrize(
    ("value", "reason"),
    [(b"\x01 garbage", R.CORRUPT_FRAME), (of(EXAMPLES[PermitRequested]), R.SEMANTIC_VIOLATION)],
    ids=["not a frame", "not a dead letter"],
)
def test_a_signed_redrive_without_a_dead_letter_is_a_dead_letter(
    value: bytes, reason: DeadLetterReason
) -> None:
    headers = OPERATOR.sign(REDRIVE.name, None, value)
    raw = RawRecord(REDRIVE.name, 0, 5, None, value, to_ms(datetime.now(UTC)), tuple(headers))
    refused = run(raw)
    assert isinstance(refused, Rejected)
    assert refused.reason is reason
    assert refused.raw.topic == REDRIVE.name


def sealed_redrive_of(raw: RawRecord, keys: KeyStore) -> RawRecord:
    """A re-drive whose dead letter's original is sealed under the case key."""
    case_id = EXAMPLES[PermitRequested].envelope.case_id
    refused = Rejected(raw, R.PROCESSING_ERROR, "a defect", case_id=case_id)
    letter = seal_letter(rejected_letter(refused), keys)
    assert letter.original != raw.value
    return redrive_record(letter, CODEC)


def test_a_sealed_redrive_is_opened_with_the_case_key() -> None:
    keys = MemoryKeyStore()
    original = Record().read()
    redrive = sealed_redrive_of(original, keys)
    accepted = ingest(
        redrive,
        CODEC,
        DIRECTORY,
        VERIFIER,
        lambda _topic: PARTITIONS,
        keys,
        indicators=GRID,
        hub_keys=HUB_KEYS,
        operator_keys=OPERATOR_KEYS,
    )
    assert isinstance(accepted, Inbound), accepted
    assert accepted.redriven
    assert accepted.event == EXAMPLES[PermitRequested]


def test_a_sealed_redrive_of_an_erased_case_is_unreadable() -> None:
    keys = MemoryKeyStore()
    redrive = sealed_redrive_of(Record().read(), keys)
    keys.destroy(EXAMPLES[PermitRequested].envelope.case_id)
    for store in (keys, None):
        unreadable = ingest(
            redrive,
            CODEC,
            DIRECTORY,
            VERIFIER,
            lambda _topic: PARTITIONS,
            store,
            indicators=GRID,
            hub_keys=HUB_KEYS,
            operator_keys=OPERATOR_KEYS,
        )
        assert isinstance(unreadable, Unreadable)
        assert "original" in unreadable.reason


def test_a_record_refused_for_a_code_is_accepted_when_re_driven_after_the_grid_gains_it() -> None:
    original = Record(value=referral(indicator_codes=("ILO-FL-99",))).read()
    first = run(original)
    assert isinstance(first, Rejected)
    assert first.reason is R.UNKNOWN_INDICATOR
    added = Indicator(code="ILO-FL-99", source="ILO-FL", label_fr="Essai", label_en="Trial")
    grown = GRID.model_copy(
        update={"version": GRID.version + 1, "indicators": (*GRID.indicators, added)}
    )
    redrive = redrive_of(original, datetime.now(UTC))
    again = ingest(
        redrive,
        CODEC,
        DIRECTORY,
        VERIFIER,
        lambda _t: PARTITIONS,
        indicators=grown,
        hub_keys=HUB_KEYS,
        operator_keys=OPERATOR_KEYS,
    )
    assert isinstance(again, Inbound), again
    assert again.redriven
