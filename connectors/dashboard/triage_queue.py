"""The triage queue of reports from the public, and the triage body's answers to them.

The designated triage body (``cellule-signalements``, routing.yaml ``select: designated``)
receives each ``WitnessReport`` and ``WitnessReportAddendum`` in its inbox like any recipient.
This module reads that inbox (hub-signed records only) and the body's own outbox (what it
already answered), and publishes, signed with the body's key, what an operator decides:

- take it up: ``Acknowledgement`` ACCEPTED (meets the triage deadline);
- ask for more: NEEDS_INFORMATION (the reporter's status says so);
- forward: a ``PresumedVictimReport`` on a new case (``correlation_id``: the report's case),
  routed to the competent authorities like any report, then COMPLETED;
- close with a reason: COMPLETED, the reason in the answer's detail.

The narrative forwarded is built here from what the witness wrote (never their contact): the
operator chooses the routing facts, not the words (docs/WITNESS_REPORTS.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Final

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents.io import clients
from agents.io.reader import read_topics
from hub.contracts.codec import Codec, CodecError
from hub.contracts.enums import AckStatus, AgencyRole, ExploitationType, Urgency
from hub.contracts.envelope import Envelope
from hub.contracts.events import (
    Acknowledgement,
    ExploitationDetails,
    Person,
    PresumedVictimReport,
)
from hub.contracts.topics import inbox_topic, outbox_topic
from hub.contracts.witness import WitnessReport, WitnessReportAddendum
from hub.rules.directory import Directory
from hub.runtime.settings import HubSettings
from hub.trust.agency_keys import KeyFileError, dev_key_path, load_private_key
from hub.trust.signing import RecordSigner
from hub.trust.verification import SignatureError, verify_from_hub

log = structlog.get_logger(__name__)

MAX_NOTE_CHARS: Final = 1000


class CloseReason(StrEnum):
    """Why the triage body closes a report without forwarding it (shown in French)."""

    NOT_EXPLOITATION = "NOT_EXPLOITATION"
    NOT_ENOUGH_INFORMATION = "NOT_ENOUGH_INFORMATION"
    ALREADY_KNOWN = "ALREADY_KNOWN"
    ABUSIVE = "ABUSIVE"


CLOSE_REASONS: Final = {
    CloseReason.NOT_EXPLOITATION: "ne relève pas de la traite ou de l'exploitation",
    CloseReason.NOT_ENOUGH_INFORMATION: "informations insuffisantes pour agir",
    CloseReason.ALREADY_KNOWN: "situation déjà connue des autorités",
    CloseReason.ABUSIVE: "signalement abusif ou sans objet",
}


class TriageSettings(BaseSettings):
    """Who triages, and with which key (``HUB_TRIAGE_`` environment variables)."""

    model_config = SettingsConfigDict(env_prefix="HUB_TRIAGE_", extra="ignore", frozen=True)

    agency_id: str = "cellule-signalements"
    signing_key_path: Path | None = Field(
        default=None, description="The triage body's private key; unset: the demo key."
    )


@dataclass(frozen=True)
class QueuedReport:
    """One report of the queue, with what was added and answered since."""

    case_id: uuid.UUID
    request_id: uuid.UUID
    report: WitnessReport
    additions: tuple[WitnessReportAddendum, ...] = ()
    answers: tuple[AckStatus, ...] = ()
    forwarded_case: uuid.UUID | None = None
    closed_with: str | None = None

    @property
    def done(self) -> bool:
        return AckStatus.COMPLETED in self.answers

    @property
    def received_at(self) -> datetime:
        return self.report.envelope.occurred_at


@dataclass
class _Building:
    request_id: uuid.UUID | None = None
    report: WitnessReport | None = None
    additions: list[WitnessReportAddendum] = field(default_factory=list)
    answers: list[AckStatus] = field(default_factory=list)
    forwarded: uuid.UUID | None = None
    closed_with: str | None = None


class TriageDesk:
    """Reads the queue and publishes the triage body's decisions."""

    def __init__(
        self,
        settings: HubSettings,
        codec: Codec,
        signer: RecordSigner,
        hub_public_key: Ed25519PublicKey | str,
        agency_id: str,
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.signer = signer
        self.hub_public_key = hub_public_key
        self.agency_id = agency_id

    @classmethod
    def load(cls, settings: HubSettings, codec: Codec, config: TriageSettings) -> TriageDesk | None:
        """The desk of the configured triage body; None (said in the log, the page then
        answers 404) when the directory has no such agency or its key cannot sign for it."""
        agency = Directory.load(settings.config_dir).get(config.agency_id)
        if agency is None:
            log.warning("triage.no_agency", agency=config.agency_id)
            return None
        key = config.signing_key_path or dev_key_path(settings.config_dir, agency.id)
        try:
            signer = RecordSigner.for_agency(agency, load_private_key(key))
            hub_key = (settings.config_dir / "hub-public-key.txt").read_text().strip()
        except (KeyFileError, ValueError, OSError) as exc:
            log.warning("triage.no_key", agency=agency.id, error=str(exc))
            return None
        return cls(settings, codec, signer, hub_key, agency.id)

    async def queue(self) -> list[QueuedReport]:
        """Every report received, oldest first, with its additions and answers."""
        inbox, outbox = inbox_topic(self.agency_id), outbox_topic(self.agency_id)
        cases: dict[uuid.UUID, _Building] = {}
        for record in await read_topics(self.settings, [inbox, outbox]):
            try:
                if record.topic == inbox:
                    headers = list(record.headers)
                    verify_from_hub(
                        record.topic, record.key, record.value, headers, self.hub_public_key
                    )
                event = self.codec.decode_event(record.value or b"")
            except (SignatureError, CodecError) as exc:
                log.warning("triage.record_refused", topic=record.topic, reason=exc.reason.value)
                continue
            _fold(cases, event, from_inbox=record.topic == inbox)
        found = [
            QueuedReport(
                case_id=case_id,
                request_id=b.request_id,
                report=b.report,
                additions=tuple(b.additions),
                answers=tuple(b.answers),
                forwarded_case=b.forwarded,
                closed_with=b.closed_with,
            )
            for case_id, b in cases.items()
            if b.report is not None and b.request_id is not None
        ]
        return sorted(found, key=lambda q: q.received_at)

    async def answer(
        self, item: QueuedReport, status: AckStatus, detail: str | None = None
    ) -> None:
        await self._publish([self._ack(item, status, detail)])

    async def forward(
        self,
        item: QueuedReport,
        *,
        departement: str,
        urgency: Urgency,
        types: Sequence[ExploitationType],
        minor: bool,
        note: str | None,
        operator: str,
    ) -> uuid.UUID:
        """Publish the report to the authorities on a new case, then close the triage."""
        case_id = uuid.uuid4()
        report = PresumedVictimReport(
            envelope=Envelope(
                event_id=uuid.uuid4(),
                case_id=case_id,
                occurred_at=datetime.now(UTC),
                correlation_id=item.case_id,
                causation_id=item.request_id,
            ),
            reporter_role=AgencyRole.NATIONAL_COORDINATION,
            departement=departement,
            urgency=urgency,
            immediate_danger=urgency is Urgency.IMMEDIATE_DANGER,
            minor_suspected=minor,
            exploitation_types=tuple(types),
            person=Person(
                person_ref=f"signalement-{str(item.case_id)[:8]}",
                is_minor=True if minor else None,
            ),
            exploitation=ExploitationDetails(
                types=tuple(types) or None,
                narrative=narrative(item, note),
                places=(item.report.place,) if item.report.place else None,
            ),
        )
        detail = f"transmis aux autorités compétentes par {operator}"
        await self._publish([report, self._ack(item, AckStatus.COMPLETED, detail)])
        return case_id

    async def close(self, item: QueuedReport, reason: CloseReason, operator: str) -> None:
        detail = f"clos ({reason.value}) : {CLOSE_REASONS[reason]} — {operator}"
        await self._publish([self._ack(item, AckStatus.COMPLETED, detail)])

    def _ack(self, item: QueuedReport, status: AckStatus, detail: str | None) -> Acknowledgement:
        return Acknowledgement(
            envelope=Envelope(
                event_id=uuid.uuid4(), case_id=item.case_id, occurred_at=datetime.now(UTC)
            ),
            request_id=item.request_id,
            status=status,
            detail=detail,
        )

    async def _publish(self, events: Sequence[BaseModel]) -> None:
        """Signed, in order, to the triage body's outbox (a short-lived producer: a few
        decisions a day do not need one held open)."""
        producer = clients.producer(self.settings)
        await producer.start()
        try:
            topic = outbox_topic(self.agency_id)
            for event in events:
                key = str(event.envelope.case_id).encode()  # type: ignore[attr-defined]
                value = self.codec.encode_event(event)
                headers = self.signer.sign(topic, key, value)
                await producer.send_and_wait(topic, value, key=key, headers=headers)
        finally:
            await producer.stop()


def narrative(item: QueuedReport, note: str | None) -> str:
    """What the witness wrote (report, then additions), and the triage's note: never the
    witness's name or contact."""
    parts = [
        f"Signalement d'un témoin ({item.received_at:%d/%m/%Y}) : {item.report.what_was_seen or ''}"
    ]
    parts += [f"Complément : {a.what_was_seen}" for a in item.additions if a.what_was_seen]
    if note:
        parts.append(f"Note de la cellule : {note[:MAX_NOTE_CHARS]}")
    return "\n".join(parts)


def _fold(cases: dict[uuid.UUID, _Building], event: BaseModel, *, from_inbox: bool) -> None:
    envelope = event.envelope  # type: ignore[attr-defined]
    if from_inbox and isinstance(event, WitnessReport):
        b = cases.setdefault(envelope.case_id, _Building())
        b.report, b.request_id = event, envelope.causation_id
    elif from_inbox and isinstance(event, WitnessReportAddendum):
        cases.setdefault(envelope.case_id, _Building()).additions.append(event)
    elif not from_inbox and isinstance(event, Acknowledgement):
        b = cases.setdefault(envelope.case_id, _Building())
        b.answers.append(event.status)
        if event.detail and event.detail.startswith("clos"):
            b.closed_with = event.detail
    elif not from_inbox and isinstance(event, PresumedVictimReport) and envelope.correlation_id:
        cases.setdefault(envelope.correlation_id, _Building()).forwarded = envelope.case_id
