"""Ingest: turn one raw record from an agency outbox into a trusted ``Inbound``, or refuse it.

``ingest`` is the one call the worker makes per record: unwrap a re-drive, verify the
signature, then ``accept``. The sending agency is the owner of the outbox topic the record was
read from, never a payload field. The record must be signed by a key of that agency, be a
registered event, valid against its model, keyed and partitioned by its case id (so every
record of a case meets the same worker and the same state), and carry only indicator codes of
the shared grid (``hub/rules/indicators.py``). Anything else is a ``Rejected`` value carrying
the dead letter's machine reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from hub.audit.keys import KeyStore
from hub.contracts.codec import Codec, CodecError, frame_header
from hub.contracts.enums import AgencyRole, DeadLetterReason
from hub.contracts.erasure_events import (
    ErasureApproved,
    ErasureRejected,
    ErasureRequested,
    RestrictionLifted,
    RetentionExpiry,
)
from hub.contracts.events import (
    EVENT_MODELS,
    subject_of,
)
from hub.contracts.partitioning import case_partition
from hub.contracts.topics import ERASURE, REDRIVE, agency_of_outbox
from hub.flow.decisions import Inbound, as_uuid, digest_of
from hub.flow.redrives import RedriveRefused, proven_redrive
from hub.flow.sealed_letters import OriginalUnavailableError, open_original
from hub.rules.directory import Agency, Directory
from hub.rules.indicators import IndicatorGrid, check_event, may_carry_codes
from hub.trust.verification import (
    INGEST_POLICY,
    RecordVerifier,
    SignatureError,
    verify_from_hub,
)

HUB_SENDER = Agency(id="hub", name="NRM Hub", role=AgencyRole.HUB)
"""The sender of the hub's own commands (erasure), proven by the hub's signature."""
ERASURE_SUBJECTS = frozenset(
    subject_of(m)
    for m in (
        ErasureRequested,
        ErasureApproved,
        ErasureRejected,
        RetentionExpiry,
        RestrictionLifted,
    )
)


@dataclass(frozen=True)
class RawRecord:
    """A record as read from Kafka, before anything is trusted."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: Sequence[tuple[str, bytes]] = ()
    partitions: int = 4
    redriven: bool = False

    @property
    def timestamp(self) -> datetime:
        """The record's timestamp as a UTC instant."""
        return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)


@dataclass(frozen=True)
class Rejected:
    """A record refused at ingest, with what could be learnt about it."""

    raw: RawRecord
    reason: DeadLetterReason
    detail: str
    schema_id: int | None = None
    case_id: uuid.UUID | None = None
    event_id: uuid.UUID | None = None
    claimed_sender: str | None = None
    again: str = ""
    """A re-drive's origin (``redrive/partition/offset``): a re-drive refused again is a new
    dead letter, not the old one."""
    authenticated: bool = False
    """The outbox owner's signature verified before the refusal (its refusal notice says the
    record is the agency's own, not someone writing on its outbox)."""


@dataclass(frozen=True)
class Unreadable:
    """A proven re-drive whose original is gone for good (its case's key destroyed): nothing
    to route, nothing to dead-letter again (the letter it names stays where it is)."""

    raw: RawRecord
    reason: str


PartitionCount = Callable[[str], int]
"""How many partitions a topic has (what the consumer knows of it)."""


def ingest(
    raw: RawRecord,
    codec: Codec,
    directory: Directory,
    verifier: RecordVerifier | None,
    partitions_of: PartitionCount,
    key_store: KeyStore | None = None,
    *,
    indicators: IndicatorGrid,
    hub_keys: Sequence[str] = (),
    operator_keys: Sequence[str] = (),
) -> Inbound | Rejected | Unreadable:
    """The one step from a record read by the worker to a trusted event or a refusal.

    A record of ``nrm.erasure`` is an operator's erasure command: it must be signed by one of
    ``operator_keys`` (the operator-action key, ``hub.trust.operator_actions``) or of
    ``hub_keys`` (the hub's own public keys), whatever ``verifier`` says (``erasure_command``).

    A record of the re-drive topic is unwrapped first (``unwrap_redrive``: signed by an
    operator-action key, carrying a dead letter the hub signed, allowed by the re-drive
    policy): the original record its dead letter carries (sealed under the case key, opened
    with ``key_store``) is ingested again, its signature checked against the time the hub
    first received it. Then the signature (when ``verifier`` is set) must be the outbox
    owner's, then ``accept`` decodes and validates, then every indicator code must be one of
    the grid's (``indicators``): a record refused for an unknown code can be re-driven once
    the grid has it.
    """
    if raw.topic == ERASURE.name:
        return erasure_command(raw, codec, (*operator_keys, *hub_keys))
    signed_at: datetime | None = None
    again = ""
    if raw.topic == REDRIVE.name:
        unwrapped = unwrap_redrive(
            raw, codec, partitions_of, key_store, operator_keys=operator_keys, hub_keys=hub_keys
        )
        if isinstance(unwrapped, Rejected | Unreadable):
            return unwrapped
        again = f"redrive/{raw.partition}/{raw.offset}"
        raw, signed_at = unwrapped
    unproven = _with_ids(raw, codec, verify(raw, directory, verifier, signed_at))
    if unproven is not None:
        return replace(unproven, again=again)
    accepted = accept(raw, codec, directory)
    if isinstance(accepted, Inbound):
        accepted = _with_grid_codes(accepted, raw, indicators)
    if isinstance(accepted, Rejected):
        owner = agency_of_outbox(raw.topic)
        proven = verifier is not None and owner is not None and directory.get(owner) is not None
        return replace(accepted, again=again, authenticated=proven)
    return accepted


def unwrap_redrive(
    raw: RawRecord,
    codec: Codec,
    partitions_of: PartitionCount,
    key_store: KeyStore | None = None,
    *,
    operator_keys: Sequence[str],
    hub_keys: Sequence[str],
) -> tuple[RawRecord, datetime] | Rejected | Unreadable:
    """The original record a re-drive carries (unsealed), and when the hub first received it.

    The re-drive must be signed by an operator-action key within the ingest windows, carry a
    dead letter the hub's signature proves it wrote, of a kind the re-drive policy lets
    through (``hub/flow/redrives.py``): otherwise it is ``Rejected``, a dead letter of its own
    (source ``nrm.redrive``) and nothing is routed. The time the original is checked against
    is that hub-signed letter's ``occurred_at``. A re-drive of an erased or expired case is
    ``Unreadable``: its original is gone for good.
    """
    letter = proven_redrive(
        raw.key, raw.value, raw.headers, codec, operator_keys=operator_keys, hub_keys=hub_keys
    )
    if isinstance(letter, RedriveRefused):
        return Rejected(raw, letter.reason, letter.detail, case_id=letter.case_id)
    try:
        value = open_original(letter, key_store)
    except OriginalUnavailableError as exc:
        return Unreadable(raw, str(exc))
    original = RawRecord(
        topic=letter.source_topic,
        partition=letter.source_partition,
        offset=letter.source_offset,
        key=letter.original_key,
        value=value,
        timestamp_ms=int(letter.occurred_at.timestamp() * 1000),
        headers=tuple((h.name, h.value) for h in letter.original_headers),
        partitions=partitions_of(letter.source_topic),
        redriven=True,
    )
    return original, letter.occurred_at


def verify(
    raw: RawRecord,
    directory: Directory,
    verifier: RecordVerifier | None,
    signed_at: datetime | None = None,
) -> Rejected | None:
    """The signature check: the key that verifies must belong to the outbox's owner.

    No verifier (signatures off) or no owner in the directory: nothing to check here
    (``accept`` names the missing owner). Signatures are checked against the wall clock,
    never the simulated one; a re-driven record against ``signed_at``, the time the hub
    first received it.
    """
    if verifier is None:
        return None
    owner = agency_of_outbox(raw.topic)
    agency = directory.get(owner) if owner else None
    if agency is None:
        return None
    try:
        verifier.verify_record(raw.topic, raw.key, raw.value, raw.headers, agency, now=signed_at)
    except SignatureError as exc:
        return Rejected(raw, exc.reason, exc.detail)
    return None


def erasure_command(raw: RawRecord, codec: Codec, trusted: Sequence[str]) -> Inbound | Rejected:
    """An erasure command of ``nrm.erasure``: signed by one of ``trusted``, the
    operator-action key (``hub erase`` and the dashboard sign with it) or the hub's own (an
    agency's key, or none, is refused) within the ingest windows (a copy replayed later is
    STALE_SIGNATURE), one of ``ERASURE_SUBJECTS`` (the erasure workflow's commands, a
    restriction lifted, the retention run's expiries), keyed and partitioned by its case. Its
    sender is the hub; the operator is in the event."""
    try:  # always checked, with the ingest windows: a command copied days later is stale
        verify_from_hub(
            raw.topic, raw.key, raw.value, raw.headers, list(trusted), policy=INGEST_POLICY
        )
    except SignatureError as exc:
        return Rejected(raw, exc.reason, exc.detail)
    accepted = accept(raw, codec, None, sender=HUB_SENDER)
    if isinstance(accepted, Inbound) and accepted.subject not in ERASURE_SUBJECTS:
        return Rejected(
            raw,
            DeadLetterReason.SEMANTIC_VIOLATION,
            f"{accepted.subject} is not an erasure command",
            case_id=accepted.event.envelope.case_id,  # type: ignore[attr-defined]
            event_id=accepted.event_id,
        )
    return accepted


def accept(
    raw: RawRecord, codec: Codec, directory: Directory | None, *, sender: Agency | None = None
) -> Inbound | Rejected:
    """Authenticate the channel, decode and validate one outbox record (``sender``: already
    authenticated otherwise, e.g. the hub's signature on an erasure command)."""
    if sender is None and directory is not None:
        owner = agency_of_outbox(raw.topic)
        sender = directory.get(owner) if owner else None
    if sender is None:
        case_id, event_id = _peek_ids(raw, codec)
        return Rejected(
            raw,
            DeadLetterReason.SPOOFED_SENDER,
            f"no agency in the directory owns the topic {raw.topic}",
            case_id=case_id,
            event_id=event_id,
        )
    if raw.value is None:
        return Rejected(raw, DeadLetterReason.CORRUPT_FRAME, "record has no value")
    try:
        decoded = codec.decode(raw.value)
    except CodecError as exc:
        return Rejected(raw, exc.reason, exc.detail, schema_id=exc.schema_id)
    model = EVENT_MODELS.get(decoded.subject)
    envelope = decoded.record.get("envelope")
    if model is None or not isinstance(envelope, dict):
        return Rejected(
            raw,
            DeadLetterReason.SEMANTIC_VIOLATION,
            f"agencies do not publish {decoded.subject}; only the hub emits it",
            schema_id=decoded.schema_id,
        )
    case_id, event_id = _ids(envelope)
    claimed = envelope.get("sender")
    try:
        event = model.model_validate(decoded.record)
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return Rejected(
            raw,
            DeadLetterReason.SCHEMA_VIOLATION,
            f"{decoded.subject}: {detail}",
            decoded.schema_id,
            case_id,
            event_id,
            claimed,
        )
    assert case_id is not None
    expected_key = str(case_id).encode()
    if raw.key != expected_key:
        return Rejected(
            raw,
            DeadLetterReason.SEMANTIC_VIOLATION,
            "records must be keyed by their case id",
            decoded.schema_id,
            case_id,
            event_id,
            claimed,
        )
    if raw.partition != case_partition(case_id, raw.partitions):
        return Rejected(
            raw,
            DeadLetterReason.SEMANTIC_VIOLATION,
            "records must be partitioned by case id with the default partitioner",
            decoded.schema_id,
            case_id,
            event_id,
            claimed,
        )
    return Inbound(
        subject=decoded.subject,
        record=decoded.record,
        event=event,
        sender=sender,
        topic=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        timestamp=raw.timestamp,
        digest=digest_of(raw.value),
        frame=raw.value,
        headers=tuple(raw.headers),
        redriven=raw.redriven,
    )


def _with_grid_codes(inbound: Inbound, raw: RawRecord, grid: IndicatorGrid) -> Inbound | Rejected:
    """The accepted event, or its refusal when it carries a code the grid does not have."""
    if not may_carry_codes(type(inbound.event)):
        return inbound
    refusal = check_event(grid, inbound.event)
    if refusal is None:
        return inbound
    return Rejected(
        raw,
        refusal.reason,
        f"{inbound.subject}: {refusal.detail}",
        frame_header(raw.value or b""),
        inbound.event.envelope.case_id,  # type: ignore[attr-defined]
        inbound.event_id,
        inbound.envelope.get("sender"),
    )


def _with_ids(raw: RawRecord, codec: Codec, refused: Rejected | None) -> Rejected | None:
    """A signature refusal with the case and event ids the record claims, when it decodes:
    so operators find the case, and its dead letter is sealed under that case's key instead of
    keeping the record in clear."""
    if refused is None or refused.case_id is not None:
        return refused
    case_id, event_id = _peek_ids(raw, codec)
    return replace(refused, case_id=case_id, event_id=event_id)


def _peek_ids(raw: RawRecord, codec: Codec) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """Case and event ids of an untrusted record, when it decodes (for operators only)."""
    try:
        envelope = codec.decode(raw.value or b"").record.get("envelope")
    except CodecError:
        return None, None
    return _ids(envelope) if isinstance(envelope, dict) else (None, None)


def _ids(envelope: dict[str, Any]) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    def parsed(value: Any) -> uuid.UUID | None:
        try:
            return as_uuid(value) if value is not None else None
        except ValueError:
            return None

    return parsed(envelope.get("case_id")), parsed(envelope.get("event_id"))


def raw_of(inbound: Inbound) -> RawRecord:
    """The record an accepted event was read from (for its dead letter when refused later)."""
    return RawRecord(
        topic=inbound.topic,
        partition=inbound.partition,
        offset=inbound.offset,
        key=str(inbound.event.envelope.case_id).encode(),  # type: ignore[attr-defined]
        value=inbound.frame,
        timestamp_ms=round(inbound.timestamp.timestamp() * 1000),
        headers=inbound.headers,
        redriven=inbound.redriven,
    )
