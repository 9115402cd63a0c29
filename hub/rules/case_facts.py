"""What statistics read from a case's decoded events: the events grouped by case, and the
case's identification outcome, read by walking the lifecycle (``deploy/config/lifecycle.yaml``)
over them. Shared by the observatory export and the coordination committee's monitoring, so
both count "identified" the same way."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel

from hub.contracts.enums import IdentificationOutcome, avro_full_name
from hub.contracts.events import IdentificationDecision, PresumedVictimReport, ReferralOpened
from hub.rules.lifecycle import CaseStatus, Lifecycle, Moved

PENDING = "PENDING"


def by_case(events: Iterable[BaseModel]) -> dict[UUID, list[BaseModel]]:
    """Events grouped by their case id."""
    grouped: dict[UUID, list[BaseModel]] = defaultdict(list)
    for event in events:
        grouped[event.envelope.case_id].append(event)  # type: ignore[attr-defined]
    return grouped


def identification(ordered: Iterable[BaseModel], lifecycle: Lifecycle) -> str:
    """A case's identification outcome, read by walking the lifecycle over its events.

    Every path the lifecycle knows counts: a move into IDENTIFIED (a police or labour
    inspectorate ``ReferralOpened``: formal identification) or an accepted
    ``IdentificationDecision`` IDENTIFIED makes it IDENTIFIED; a move into NOT_IDENTIFIED makes
    it NOT_IDENTIFIED; a reopening (a new report) makes it PENDING again, as does a case not
    yet decided (a TRANSFERRED decision keeps it under identification). An event the lifecycle
    refuses moves nothing, as in the worker (which dead-letters it)."""
    status, outcome = CaseStatus.NEW, PENDING
    for event in ordered:
        decided = event.outcome if isinstance(event, IdentificationDecision) else None
        moved = lifecycle.move(
            status, avro_full_name(type(event)), decided.value if decided else None
        )
        if not isinstance(moved, Moved):
            continue
        if moved.reopens:
            outcome = PENDING
        if decided is IdentificationOutcome.IDENTIFIED or moved.status is CaseStatus.IDENTIFIED:
            outcome = CaseStatus.IDENTIFIED.value
        elif moved.status is CaseStatus.NOT_IDENTIFIED:
            outcome = CaseStatus.NOT_IDENTIFIED.value
        status = moved.status
    return outcome


@dataclass(frozen=True)
class Period:
    """Cases opened (first report or referral) from ``since`` up to, not including, ``until``."""

    since: date | None = None
    until: date | None = None

    @property
    def label(self) -> str:
        """``2026-11-01..2026-12-01``, open ends as ``..``, or ``all``."""
        if self.since is None and self.until is None:
            return "all"
        return f"{self.since or ''}..{self.until or ''}"

    def contains(self, at: datetime) -> bool:
        """Whether an instant (UTC) falls in the period."""
        day = at.date()
        return (self.since is None or day >= self.since) and (
            self.until is None or day < self.until
        )


def opened_in(events: Iterable[BaseModel], period: Period) -> list[BaseModel]:
    """The events of the cases whose first report or referral falls in ``period``."""
    kept: list[BaseModel] = []
    for case_events in by_case(events).values():
        opened = [
            e.envelope.occurred_at
            for e in case_events
            if isinstance(e, PresumedVictimReport | ReferralOpened)
        ]
        if opened and period.contains(min(opened)):
            kept.extend(case_events)
    return kept
