"""Bad records, forged on purpose, each with the dead letter reason the hub must give it.

A ``Forge`` builds one kind of record at a time from hypothesis draws: truncated frames,
random bytes, unknown schema ids, hub-only types from an agency, fields missing from the
bytes, enum symbols out of range, spoofed senders, foreign or broken signatures, stale
signatures, oversize values, replays, acknowledgements for unknown requests or from the
wrong agency... and good records (expected reason None) that must be routed. Every record is
signed by the owner of the outbox it goes to unless the kind is about the signature, so the
reason tested is the kind's own and not an earlier check's.
"""

from __future__ import annotations

import copy
import io
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import fastavro
from flow_helpers import consent_for, permit_chosen, prefecture_consent
from hypothesis import strategies as st
from pydantic import BaseModel

from hub.contracts.codec import Codec
from hub.contracts.enums import (
    AckStatus,
    AgencyRole,
    AuditAction,
    DeadLetterReason,
    EscalationStep,
    ExploitationType,
    NeedKind,
    OrphanReason,
    Urgency,
)
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    Acknowledgement,
    ConsentGiven,
    Escalation,
    OrphanedNeed,
    PermitRequested,
    PresumedVictimReport,
    ReferralOpened,
    subject_of,
)
from hub.contracts.examples import example_events
from hub.contracts.hub_records import (
    AuditEntry,
    DeadLetter,
    DirectoryEntry,
)
from hub.contracts.partitioning import case_partition
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import inbox_topic, outbox_topic
from hub.trust.signing import RecordSigner, now_ms

T = TypeVar("T")
Draw = Callable[[st.SearchStrategy[T]], T]
PARTITIONS = 4
GHOST_AGENCY = "ghost-agency"
"""An outbox topic that exists on the broker but belongs to no agency of the directory."""
R = DeadLetterReason


def police_consent(case_id: uuid.UUID) -> ConsentGiven:
    """The adult's agreement that the police receive the report."""
    return consent_for(AgencyRole.POLICE_GENDARMERIE, case_id=case_id)


CONSENT_KIND = "consent"
"""A consent written before a good permit request: it makes the request routable and is
itself not checked (``Forge.with_consents``)."""


@dataclass(frozen=True)
class Forged:
    """One record to write, and what the hub must do with it."""

    kind: str
    topic: str
    partition: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    expected: DeadLetterReason | None
    """The dead letter reason, or None for a good record that must be routed."""
    routed_to: str | None = None
    """A good record's recipient inbox (one of them)."""
    event_id: uuid.UUID | None = None


@dataclass
class OpenRequests:
    """Requests routed to prefecture-93 and still open: targets for bad acknowledgements."""

    cases: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)  # (case, request)


class Forge:
    """Builds good and bad records with the demo agencies' keys."""

    def __init__(
        self,
        registry: SchemaRegistry,
        signers: dict[str, RecordSigner],
        open_requests: OpenRequests,
    ) -> None:
        self.registry = registry
        self.codec = Codec(registry)
        self.signers = signers
        self.open = open_requests
        self.registered_ids = {s.schema_id for s in registry}

    # ------------------------------------------------------------------ building blocks

    def signed(
        self,
        kind: str,
        sender: str,
        case_id: uuid.UUID,
        value: bytes | None,
        expected: DeadLetterReason | None,
        *,
        routed_to: str | None = None,
        event_id: uuid.UUID | None = None,
        partition: int | None = None,
        key: bytes | str | None = "case",
        topic: str | None = None,
        signer: str | None = None,
        timestamp_ms: int | None = None,
    ) -> Forged:
        """A record to ``sender``'s outbox, keyed and partitioned by case, signed by the
        owner (or by ``signer``, for the signature kinds)."""
        topic = topic or outbox_topic(sender)
        record_key = str(case_id).encode() if key == "case" else key
        assert not isinstance(record_key, str)
        headers = self.signers[signer or sender].sign(
            topic, record_key, value, timestamp_ms=timestamp_ms
        )
        return Forged(
            kind,
            topic,
            case_partition(case_id, PARTITIONS) if partition is None else partition,
            record_key,
            value,
            headers,
            expected,
            routed_to,
            event_id,
        )

    def event(self, forged_kind: str, draw: Draw[Any]) -> tuple[str, BaseModel, str]:
        """A good event: (sender, event, recipient inbox)."""
        case_id = uuid.uuid4()
        story = {type(e): e for _s, e in example_events(case_id)}
        envelope = Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=_now())
        choice = draw(st.integers(0, 5))
        if choice <= 3:
            sender, departement = [
                ("police-93", "93"),
                ("inspection-travail-93", "93"),
                ("association-93", "75"),
                ("police-93", "57"),
            ][choice]
            permit = story[PermitRequested].model_copy(
                update={
                    "envelope": envelope,
                    "request_id": uuid.uuid4(),
                    "departement": departement,
                }
            )
            return sender, permit, inbox_topic(f"prefecture-{departement}")
        report = story[PresumedVictimReport].model_copy(
            update={
                "envelope": envelope,
                "urgency": Urgency.ROUTINE,
                "exploitation_types": (ExploitationType.SEXUAL,),
            }
        )
        return ("association-93" if choice == 4 else "hopital-93"), report, inbox_topic("police-93")

    def good(self, draw: Draw[Any], kind: str = "good") -> Forged:
        sender, event, recipient = self.event(kind, draw)
        envelope = event.envelope  # type: ignore[attr-defined]
        return self.signed(
            kind,
            sender,
            envelope.case_id,
            self.codec.encode_event(event),
            None,
            routed_to=recipient,
            event_id=envelope.event_id,
        )

    def with_consents(self, records: list[Forged]) -> list[Forged]:
        """``records``, each good permit request preceded by the person's consent for the
        prefecture and her recorded choice, each good report to the police by the adult's
        agreement (issue 20: no exception sends them without), kind ``consent``: written, not
        checked."""
        out: list[Forged] = []
        for record in records:
            routed_to = record.routed_to or ""
            consent: Callable[[uuid.UUID], ConsentGiven] | None = None
            if record.expected is None and routed_to.startswith("nrm.inbox.prefecture-"):
                consent = prefecture_consent
                event = self.codec.decode_event(record.value or b"")
                sender = record.topic.removeprefix("nrm.outbox.")
                case_id = event.envelope.case_id
                for step in permit_chosen(case_id):  # the person's choice (CESEDA R425-2)
                    value = self.codec.encode_event(step)
                    out.append(self.signed(CONSENT_KIND, sender, case_id, value, None))
            elif record.expected is None and routed_to.startswith("nrm.inbox.police-"):
                # An association (no CPP 40 duty) or a hospital (bound by secrecy, Code pénal
                # 226-14) reports an adult to the police only with the adult's agreement.
                consent = police_consent
            if consent is not None:
                event = self.codec.decode_event(record.value or b"")
                case_id = event.envelope.case_id
                sender = record.topic.removeprefix("nrm.outbox.")
                value = self.codec.encode_event(consent(case_id))
                out.append(self.signed(CONSENT_KIND, sender, case_id, value, None))
            out.append(record)
        return out

    def _bad_event(self, draw: Draw[Any]) -> tuple[str, BaseModel, uuid.UUID]:
        sender, event, _recipient = self.event("bad", draw)
        return sender, event, event.envelope.case_id  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ the bad kinds

    def truncated_frame(self, draw: Draw[Any]) -> list[Forged]:
        sender, event, case_id = self._bad_event(draw)
        value = self.codec.encode_event(event)
        cut = draw(st.integers(0, len(value) - 1))
        return [self.signed("truncated_frame", sender, case_id, value[:cut], R.CORRUPT_FRAME)]

    def random_bytes(self, draw: Draw[Any]) -> list[Forged]:
        """Bytes without the magic byte, or with it and a registered id over random bytes
        that do not decode (checked with fastavro, so the expected reason is certain)."""
        sender, _event, case_id = self._bad_event(draw)
        if draw(st.booleans()):
            first = draw(st.integers(1, 255))
            value = bytes([first]) + draw(st.binary(max_size=120))
            return [self.signed("random_bytes", sender, case_id, value, R.CORRUPT_FRAME)]
        schema = self.registry.latest(draw(st.sampled_from(sorted(self.registry.subjects()))))
        body = draw(st.binary(min_size=1, max_size=120))
        if _decodes(schema.parsed, body):
            body = body + b"\xff\xff"  # trailing bytes: never a whole record
        value = struct.pack(">bI", 0, schema.schema_id) + body
        return [self.signed("random_avro_body", sender, case_id, value, R.CORRUPT_FRAME)]

    def unknown_schema_id(self, draw: Draw[Any]) -> list[Forged]:
        sender, event, case_id = self._bad_event(draw)
        schema_id = draw(st.integers(0, 2**32 - 1).filter(lambda i: i not in self.registered_ids))
        value = struct.pack(">BI", 0, schema_id) + self.codec.encode_event(event)[5:]
        return [self.signed("unknown_schema_id", sender, case_id, value, R.UNKNOWN_SCHEMA_ID)]

    def hub_only_type(self, draw: Draw[Any]) -> list[Forged]:
        """Valid Avro of a type only the hub emits (escalation, audit entry, ...)."""
        sender, _event, case_id = self._bad_event(draw)
        now = _now()
        envelope = Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=now)
        choices: list[BaseModel] = [
            Escalation(
                envelope=envelope,
                deadline_id=uuid.uuid4(),
                step=EscalationStep.REMINDER,
                late_by_seconds=60,
                target_role=AgencyRole.PREFECTURE,
            ),
            AuditEntry(
                case_id=case_id,
                seq=1,
                recorded_at=now,
                actor=sender,
                actor_role=AgencyRole.POLICE_GENDARMERIE,
                action=AuditAction.RECEIVED,
                prev_hash=bytes(32),
                hash=bytes(32),
            ),
            DeadLetter(
                dead_letter_id=uuid.uuid4(),
                occurred_at=now,
                reason=R.CORRUPT_FRAME,
                detail="forged",
                original=b"x",
                source_topic=outbox_topic(sender),
                source_partition=0,
                source_offset=0,
                case_id=case_id,
            ),
            DirectoryEntry(
                agency_id=sender, updated_at=now, name="forged", role=AgencyRole.PREFECTURE
            ),
            OrphanedNeed(
                envelope=envelope,
                need=NeedKind.PERMIT,
                reason=OrphanReason.PAST_LAST_STEP,
                request_id=uuid.uuid4(),
                message_type=subject_of(PermitRequested),
                departement="93",
            ),
        ]
        record = draw(st.sampled_from(choices))
        value = self.codec.encode_event(record)
        return [
            self.signed(
                f"hub_only_{type(record).__name__}",
                sender,
                case_id,
                value,
                R.SEMANTIC_VIOLATION,
            )
        ]

    def missing_field(self, draw: Draw[Any]) -> list[Forged]:
        """Written without its last field (an older or broken writer): the bytes end early."""
        sender, event, case_id = self._bad_event(draw)
        subject = subject_of(type(event))
        registered = self.registry.latest(subject)
        schema = copy.deepcopy(registered.schema)
        dropped = schema["fields"].pop()
        record = event.model_dump()
        del record[dropped["name"]]
        value = _frame(registered.schema_id, schema, record)
        return [self.signed("missing_last_field", sender, case_id, value, R.CORRUPT_FRAME)]

    def required_field_null(self, draw: Draw[Any]) -> list[Forged]:
        """A required field written as null through a nullable writer schema: it reads back
        as an empty département code, which the model refuses."""
        sender, event, case_id = self._bad_event(draw)
        registered = self.registry.latest(subject_of(type(event)))
        schema = copy.deepcopy(registered.schema)
        for item in schema["fields"]:
            if item["name"] == "departement":
                item["type"] = ["null", item["type"]]
        record = {**event.model_dump(), "departement": None}
        value = _frame(registered.schema_id, schema, record)
        return [self.signed("required_field_null", sender, case_id, value, R.SCHEMA_VIOLATION)]

    def invalid_enum(self, draw: Draw[Any]) -> list[Forged]:
        """An enum symbol the registered schema does not have (index past its symbols)."""
        sender, event, case_id = self._bad_event(draw)
        registered = self.registry.latest(subject_of(type(event)))
        schema = copy.deepcopy(registered.schema)
        field_name = "permit_type" if isinstance(event, PermitRequested) else "urgency"
        extra = draw(st.integers(1, 40))
        for item in schema["fields"]:
            if item["name"] == field_name:
                enum = item["type"]
                enum["symbols"] = [*enum["symbols"], *(f"FORGED_{i}" for i in range(extra))]
        record = {**event.model_dump(), field_name: f"FORGED_{extra - 1}"}
        value = _frame(registered.schema_id, schema, record)
        return [self.signed("invalid_enum", sender, case_id, value, R.CORRUPT_FRAME)]

    def invalid_value(self, draw: Draw[Any]) -> list[Forged]:
        """Valid Avro whose value breaks the model: a département that does not exist."""
        sender, event, case_id = self._bad_event(draw)
        departement = draw(st.sampled_from(["00", "96", "20", "979", "2C", "", "930"]))
        registered = self.registry.latest(subject_of(type(event)))
        record = {**event.model_dump(), "departement": departement}
        value = _frame(registered.schema_id, registered.schema, record)
        return [self.signed("invalid_departement", sender, case_id, value, R.SCHEMA_VIOLATION)]

    def spoofed_envelope(self, draw: Draw[Any]) -> list[Forged]:
        """The envelope names another agency (or another role) than the outbox's owner."""
        sender, event, case_id = self._bad_event(draw)
        envelope = event.envelope  # type: ignore[attr-defined]
        if draw(st.booleans()):
            other = draw(st.sampled_from([a for a in self.signers if a != sender]))
            envelope = envelope.model_copy(update={"sender": other})
        else:
            envelope = envelope.model_copy(update={"sender_role": AgencyRole.PREFECTURE})
        value = self.codec.encode_event(event.model_copy(update={"envelope": envelope}))
        return [self.signed("spoofed_envelope", sender, case_id, value, R.SPOOFED_SENDER)]

    def foreign_signature(self, draw: Draw[Any]) -> list[Forged]:
        """Signed with another agency's key, under its key id or under the owner's."""
        sender, event, case_id = self._bad_event(draw)
        other = draw(st.sampled_from([a for a in self.signers if a != sender]))
        value = self.codec.encode_event(event)
        forged = self.signed("foreign_key", sender, case_id, value, R.BAD_SIGNATURE, signer=other)
        if draw(st.booleans()):
            own_id = self.signers[sender].key_id.encode()
            headers = [(k, own_id if k == "nrm-key-id" else v) for k, v in forged.headers]
            forged = _with(forged, kind="foreign_key_own_key_id", headers=headers)
        return [forged]

    def cross_outbox(self, draw: Draw[Any]) -> list[Forged]:
        """The right key of the wrong agency: a record signed by ``sender`` written into
        another agency's outbox, signed either for its own outbox or for the other one."""
        sender, event, case_id = self._bad_event(draw)
        other = draw(st.sampled_from([a for a in self.signers if a != sender]))
        value = self.codec.encode_event(event)
        signed_for = draw(st.sampled_from([outbox_topic(sender), outbox_topic(other)]))
        headers = self.signers[sender].sign(signed_for, str(case_id).encode(), value)
        forged = self.signed("cross_outbox", other, case_id, value, R.BAD_SIGNATURE)
        return [_with(forged, headers=headers)]

    def broken_signature(self, draw: Draw[Any]) -> list[Forged]:
        sender, event, case_id = self._bad_event(draw)
        value = self.codec.encode_event(event)
        forged = self.signed("broken_signature", sender, case_id, value, R.BAD_SIGNATURE)
        how = draw(st.integers(0, 6))
        headers = list(forged.headers)
        if how == 0:
            headers = []
        elif how == 1:
            missing = draw(st.sampled_from(_SIG_NAMES))
            headers = [(k, v) for k, v in headers if k != missing]
        elif how == 2:
            flip = draw(st.integers(0, 63))
            headers = [(k, _flip(v, flip) if k == "nrm-sig" else v) for k, v in headers]
        elif how == 3:
            headers = [(k, v[:-1] if k == "nrm-sig" else v) for k, v in headers]
        elif how == 4:
            junk = draw(st.sampled_from([b"", b"-1", b"01", b"12a", b"9" * 16]))
            headers = [(k, junk if k == "nrm-ts" else v) for k, v in headers]
        elif how == 5:
            headers = [*headers, headers[0]]
        else:  # the value changed after signing
            value = value[:-1] + bytes([value[-1] ^ 0x01])
        return [_with(forged, kind=f"broken_signature_{how}", headers=headers, value=value)]

    def stale_signature(self, draw: Draw[Any]) -> list[Forged]:
        sender, event, case_id = self._bad_event(draw)
        hours = draw(st.sampled_from([-25.0, -48.0, -24 * 30.0, 0.2, 2.0]))
        timestamp = now_ms() + int(hours * 3600 * 1000)
        value = self.codec.encode_event(event)
        return [
            self.signed(
                "stale_signature",
                sender,
                case_id,
                value,
                R.STALE_SIGNATURE,
                timestamp_ms=timestamp,
            )
        ]

    def oversize(self, draw: Draw[Any]) -> list[Forged]:
        """A valid record made bigger than HUB_MAX_RECORD_BYTES (512 KiB by default)."""
        sender, event, case_id = self._bad_event(draw)
        registered = self.registry.latest(subject_of(type(event)))
        padding = 512 * 1024 + draw(st.integers(1, 4096))
        record = {**event.model_dump(), "indicator_codes": ["x" * padding]}
        if isinstance(event, PermitRequested):
            record = {**event.model_dump(), "legal_basis": "x" * padding}
        value = _frame(registered.schema_id, registered.schema, record)
        return [self.signed("oversize", sender, case_id, value, R.OVERSIZE)]

    def null_value(self, draw: Draw[Any]) -> list[Forged]:
        sender, _event, case_id = self._bad_event(draw)
        return [self.signed("null_value", sender, case_id, None, R.CORRUPT_FRAME)]

    def malformed_consent(self, draw: Draw[Any]) -> list[Forged]:
        """Consent records broken in their bytes (the semantic holes are a known bug, see
        test_bad_input.py's xfail tests)."""
        case_id = uuid.uuid4()
        consent = {type(e): e for _s, e in example_events(case_id)}[ConsentGiven]
        consent = consent.model_copy(
            update={
                "envelope": Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=_now())
            }
        )
        registered = self.registry.latest(subject_of(ConsentGiven))
        schema = copy.deepcopy(registered.schema)
        if draw(st.booleans()):
            for item in schema["fields"]:
                if item["name"] == "categories":
                    enum = item["type"]["items"]
                    enum["symbols"] = [*enum["symbols"], "FORGED_CATEGORY"]
            record = {**consent.model_dump(), "categories": ["IDENTITY", "FORGED_CATEGORY"]}
            kind = "consent_unknown_category"
        else:
            for item in schema["fields"]:
                if item["name"] == "consent_id":
                    item["type"] = "string"
            record = {**consent.model_dump(), "consent_id": draw(st.sampled_from(["", "yes"]))}
            kind = "consent_id_not_a_uuid"
        value = _frame(registered.schema_id, schema, record)
        return [self.signed(kind, "association-93", case_id, value, R.CORRUPT_FRAME)]

    def wrong_key(self, draw: Draw[Any]) -> list[Forged]:
        sender, event, case_id = self._bad_event(draw)
        key = draw(st.sampled_from([None, b"", str(uuid.uuid4()).encode(), b"not-a-case"]))
        value = self.codec.encode_event(event)
        return [self.signed("wrong_key", sender, case_id, value, R.SEMANTIC_VIOLATION, key=key)]

    def wrong_partition(self, draw: Draw[Any]) -> list[Forged]:
        sender, event, case_id = self._bad_event(draw)
        right = case_partition(case_id, PARTITIONS)
        partition = (right + draw(st.integers(1, PARTITIONS - 1))) % PARTITIONS
        value = self.codec.encode_event(event)
        return [
            self.signed(
                "wrong_partition",
                sender,
                case_id,
                value,
                R.SEMANTIC_VIOLATION,
                partition=partition,
            )
        ]

    def not_identifying(self, draw: Draw[Any]) -> list[Forged]:
        case_id = uuid.uuid4()
        story = {type(e): e for _s, e in example_events(case_id)}
        envelope = Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=_now())
        sender = draw(st.sampled_from(["association-93", "hopital-93", "prefecture-93"]))
        if draw(st.booleans()):
            event: BaseModel = story[ReferralOpened].model_copy(update={"envelope": envelope})
        else:
            event = story[PresumedVictimReport].model_copy(
                update={"envelope": envelope, "claims_formal_identification": True}
            )
        value = self.codec.encode_event(event)
        return [
            self.signed("not_identifying", sender, case_id, value, R.NOT_AN_IDENTIFYING_AUTHORITY)
        ]

    def forbidden_sender(self, draw: Draw[Any]) -> list[Forged]:
        """A type the sender's role may not send (routing.yaml `senders`)."""
        _sender, event, case_id = self._bad_event(draw)
        if not isinstance(event, PermitRequested):
            event = {type(e): e for _s, e in example_events(case_id)}[PermitRequested]
            event = event.model_copy(
                update={
                    "envelope": Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=_now())
                }
            )
        sender = draw(st.sampled_from(["prefecture-93", "hopital-93", "ase-93", "miprof"]))
        if sender == "miprof":  # national coordination may ask for a permit: ask health instead
            sender = "hopital-93"
        value = self.codec.encode_event(event)
        return [self.signed("forbidden_sender", sender, case_id, value, R.SEMANTIC_VIOLATION)]

    def replayed(self, draw: Draw[Any]) -> list[Forged]:
        """A good record, then the very same signed bytes written again (same partition)."""
        original = self.good(draw, "replay_original")
        return [original, _with(original, kind="replayed", expected=R.REPLAYED, routed_to=None)]

    def reused_event_id(self, draw: Draw[Any]) -> list[Forged]:
        """A good record, then another event under the same event id."""
        original = self.good(draw, "reuse_original")
        event = self.codec.decode_event(original.value or b"")
        changed = event.model_copy(
            update={"request_id": uuid.uuid4()}
            if isinstance(event, PermitRequested)
            else {"urgency": Urgency.URGENT}
        )
        sender = original.topic.removeprefix("nrm.outbox.")
        case_id = event.envelope.case_id  # type: ignore[attr-defined]
        copy_ = self.signed(
            "reused_event_id",
            sender,
            case_id,
            self.codec.encode_event(changed),
            R.SEMANTIC_VIOLATION,
        )
        return [original, copy_]

    def unknown_outbox(self, draw: Draw[Any]) -> list[Forged]:
        """A record in an outbox no agency of the directory owns."""
        sender, event, case_id = self._bad_event(draw)
        value = self.codec.encode_event(event)
        forged = self.signed(
            "unknown_outbox",
            sender,
            case_id,
            value,
            R.SPOOFED_SENDER,
            topic=outbox_topic(GHOST_AGENCY),
        )
        return [forged]

    def ack(self, draw: Draw[Any]) -> list[Forged]:
        """Acknowledgements for an unknown request, from the wrong agency, with a status this
        version does not know, or a decline that gives no reason (the request stays open for
        the next draws)."""
        how = draw(st.integers(0, 3))
        if how == 0 or not self.open.cases:
            case_id, request_id = uuid.uuid4(), uuid.uuid4()
            sender, status, expected = "prefecture-93", AckStatus.ACCEPTED, R.UNKNOWN_REQUEST
        else:
            case_id, request_id = draw(st.sampled_from(self.open.cases))
            if how == 1:
                sender = draw(st.sampled_from(["prefecture-75", "association-93", "police-93"]))
                status, expected = AckStatus.ACCEPTED, R.WRONG_RESPONDER
            elif how == 2:
                sender, status, expected = "prefecture-93", AckStatus.UNKNOWN, R.SEMANTIC_VIOLATION
            else:
                sender, status, expected = "prefecture-93", AckStatus.DECLINED, R.SCHEMA_VIOLATION
        ack = Acknowledgement(
            envelope=Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=_now()),
            request_id=request_id,
            status=status,
        )
        kind = [
            "ack_unknown_request",
            "ack_wrong_responder",
            "ack_unknown_status",
            "ack_decline_without_reason",
        ][how]
        if how and not self.open.cases:
            kind = "ack_unknown_request"
        value = self.codec.encode_event(ack)
        return [self.signed(kind, sender, case_id, value, expected)]

    def kinds(self) -> dict[str, Callable[[Draw[Any]], list[Forged]]]:
        """Every bad kind by name."""
        return {
            "truncated_frame": self.truncated_frame,
            "random_bytes": self.random_bytes,
            "unknown_schema_id": self.unknown_schema_id,
            "hub_only_type": self.hub_only_type,
            "missing_field": self.missing_field,
            "required_field_null": self.required_field_null,
            "invalid_enum": self.invalid_enum,
            "invalid_value": self.invalid_value,
            "spoofed_envelope": self.spoofed_envelope,
            "foreign_signature": self.foreign_signature,
            "cross_outbox": self.cross_outbox,
            "broken_signature": self.broken_signature,
            "stale_signature": self.stale_signature,
            "oversize": self.oversize,
            "null_value": self.null_value,
            "malformed_consent": self.malformed_consent,
            "wrong_key": self.wrong_key,
            "wrong_partition": self.wrong_partition,
            "not_identifying": self.not_identifying,
            "forbidden_sender": self.forbidden_sender,
            "replayed": self.replayed,
            "reused_event_id": self.reused_event_id,
            "unknown_outbox": self.unknown_outbox,
            "ack": self.ack,
        }


_SIG_NAMES = ["nrm-sig", "nrm-key-id", "nrm-ts"]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)


def _frame(schema_id: int, schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    """Avro bytes of ``record`` under ``schema``, framed with ``schema_id`` (not checked)."""
    out = io.BytesIO()
    out.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema, named_schemas={}), record)
    return out.getvalue()


def _decodes(parsed: Any, body: bytes) -> bool:
    reader = io.BytesIO(body)
    try:
        fastavro.schemaless_reader(reader, parsed, None)
    except Exception:
        return False
    return reader.tell() == len(body)


def _flip(value: bytes, index: int) -> bytes:
    index %= max(1, len(value))
    return value[:index] + bytes([value[index] ^ 0xFF]) + value[index + 1 :]


def _with(forged: Forged, **changes: Any) -> Forged:
    from dataclasses import replace

    return replace(forged, **changes)
