"""A small known story for the monitoring figures: cases with their decisions, answer
deadlines, permits and holds, whose figures tests/unit/rules/test_monitoring_figures.py
counts by hand."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flow_helpers import events_for
from pydantic import BaseModel

from hub.contracts.enums import (
    AckStatus,
    AgencyRole,
    AuditAction,
    ExploitationType,
    IdentificationOutcome,
)
from hub.contracts.events import Acknowledgement, IdentificationDecision, PresumedVictimReport
from hub.contracts.hub_records import AuditEntry
from hub.rules.case_facts import Period
from hub.rules.lifecycle import Lifecycle
from hub.rules.monitoring import Figures, Sent, figures
from hub.runtime.settings import PROJECT_ROOT

LIFECYCLE = Lifecycle.load(PROJECT_ROOT / "deploy" / "config")
PERIOD = Period(date(2026, 11, 2), date(2026, 11, 16))  # ISO weeks 45 and 46
W45, W46 = datetime(2026, 11, 2, 9, tzinfo=UTC), datetime(2026, 11, 9, 9, tzinfo=UTC)
NOW = datetime(2026, 11, 20, tzinfo=UTC)
DAY = timedelta(days=1)
REASONABLE = IdentificationOutcome.REASONABLE_GROUNDS
LABOUR, SEXUAL = ExploitationType.LABOUR, ExploitationType.SEXUAL


def event(kind: type[BaseModel], case: uuid.UUID, at: datetime, **updates: Any) -> BaseModel:
    base = events_for(case)[kind]
    envelope = base.envelope.model_copy(update={"event_id": uuid.uuid4(), "occurred_at": at})
    return base.model_copy(update={"envelope": envelope, **updates})  # type: ignore[no-any-return]


def case(
    at: datetime,
    departement: str = "93",
    form: ExploitationType = LABOUR,
    decisions: tuple[tuple[IdentificationOutcome, timedelta], ...] = (),
) -> list[Sent]:
    """One reported case and the identifying authority's decisions after the report."""
    case_id = uuid.uuid4()
    report = event(
        PresumedVictimReport, case_id, at, departement=departement, exploitation_types=(form,)
    )
    sent = [Sent(AgencyRole.SUPPORT_ASSOCIATION, report)]
    for outcome, after in decisions:
        decision = event(IdentificationDecision, case_id, at + after, outcome=outcome)
        sent.append(Sent(AgencyRole.LABOUR_INSPECTORATE, decision))
    return sent


def story_of_cases() -> list[Sent]:
    sent: list[Sent] = []
    # A1..A5: week 45, reasonable grounds after 1..5 days, identified after 10..18 days
    for n in range(5):
        decided = (
            (REASONABLE, (n + 1) * DAY),
            (IdentificationOutcome.IDENTIFIED, (10 + 2 * n) * DAY),
        )
        sent += case(W45, decisions=decided)
    sent += case(W45, decisions=((REASONABLE, 6 * DAY),))  # A6: grounds after 6 days, pending
    for _ in range(5):  # B1..B5: week 46, not identified after 2 days
        sent += case(W46, decisions=((IdentificationOutcome.NOT_IDENTIFIED, 2 * DAY),))
    for _ in range(4):  # C1..C4: week 46, nothing decided yet
        sent += case(W46)
    sent += case(W46 + DAY, departement="75", form=SEXUAL)  # S1: the one small cell
    sent += case(datetime(2026, 10, 20, tzinfo=UTC))  # before the period: not counted
    sent += case(datetime(2026, 11, 16, tzinfo=UTC))  # the until day is excluded
    return sent


def entry(
    case_id: uuid.UUID,
    seq: int,
    at: datetime,
    action: AuditAction,
    decision: str,
    *,
    actor: str = "hub",
    recipient: str | None = None,
    reason: str | None = None,
    event_id: uuid.UUID | None = None,
) -> AuditEntry:
    return AuditEntry(
        case_id=case_id,
        seq=seq,
        recorded_at=at,
        actor=actor,
        actor_role=AgencyRole.HUB,
        event_id=event_id,
        action=action,
        decision=decision,
        reason=reason,
        recipient=recipient,
        prev_hash=b"",
        hash=b"",
    )


def deadline(
    agency: str, opened: datetime, due: timedelta, answered: timedelta | None
) -> list[AuditEntry]:
    """A request to ``agency``: its deadline opens, then perhaps its first answer."""
    case_id, answer = uuid.uuid4(), uuid.uuid4()
    entries = [
        entry(
            case_id,
            1,
            opened,
            AuditAction.ROUTED,
            "deadline opened",
            recipient=agency,
            reason=f"due {(opened + due).isoformat()}",
        ),
    ]
    if answered is not None:
        at = opened + answered
        entries += [
            entry(case_id, 2, at, AuditAction.RECEIVED, "received", actor=agency, event_id=answer),
            entry(
                case_id,
                3,
                at,
                AuditAction.ACKNOWLEDGED,
                "acknowledgement ACCEPTED",
                event_id=answer,
            ),
            # the same answer redelivered (seq not above the last): ignored
            entry(
                case_id,
                3,
                at + DAY,
                AuditAction.ACKNOWLEDGED,
                "acknowledgement ACCEPTED",
                event_id=answer,
            ),
        ]
    return entries


def story_of_activity() -> tuple[list[AuditEntry], list[Sent]]:
    opened = datetime(2026, 11, 3, 10, tzinfo=UTC)
    entries: list[AuditEntry] = []
    # five permit requests to prefecture-93, due in 2 days, answered after 1, 1, 1, 2, 3 days
    for days in (1, 1, 1, 2, 3):
        entries += deadline("prefecture-93", opened, 2 * DAY, days * DAY)
    entries += deadline("association-93", opened, 3 * DAY, None)  # past due, never answered
    later = datetime(2026, 11, 15, tzinfo=UTC)
    entries += deadline("association-93", later, 10 * DAY, None)  # not yet due on NOW: left out
    c = uuid.uuid4()
    entries.append(entry(c, 1, W45, AuditAction.ROUTED, "delivered fr.nrm.PermitRequested"))
    for _ in range(4):
        entries.append(
            entry(uuid.uuid4(), 1, W45, AuditAction.ROUTED, "delivered fr.nrm.PermitRequested")
        )
    entries += [
        entry(
            c,
            2,
            W45 + DAY,
            AuditAction.CASE_TRANSITION,
            "recovery and reflection period started: récépissé delivered",
        ),
        entry(c, 3, W46 + DAY, AuditAction.ESCALATED, "orphaned need raised to operators"),
        entry(c, 4, W45, AuditAction.HELD, "held until consent covers the required categories"),
        entry(c, 5, W45 + DAY, AuditAction.RELEASED, "released fr.nrm.PermitRequested on consent"),
    ]
    answers: list[Sent] = []
    for _ in range(5):
        receipt = event(Acknowledgement, uuid.uuid4(), W45 + DAY, status=AckStatus.ACCEPTED)
        answers.append(Sent(AgencyRole.PREFECTURE, receipt))
    granted = event(
        Acknowledgement, c, W46, status=AckStatus.COMPLETED, detail="titre de séjour accordé"
    )
    refused = event(Acknowledgement, c, W46, status=AckStatus.COMPLETED, detail="refus")
    not_a_permit = event(Acknowledgement, c, W46, status=AckStatus.COMPLETED, detail="refus")
    entries.append(entries[-1])  # an audit entry read twice (at least once): counted once
    answers += [
        answers[0],  # a receipt redelivered: counted once
        Sent(AgencyRole.PREFECTURE, granted),
        Sent(AgencyRole.PREFECTURE, refused),
        Sent(AgencyRole.SUPPORT_ASSOCIATION, not_a_permit),  # an association: not a permit
    ]
    return entries, answers


def kind_of(agency: str) -> AgencyRole | None:
    return {"prefecture": AgencyRole.PREFECTURE, "association": AgencyRole.SUPPORT_ASSOCIATION}.get(
        agency.split("-")[0]
    )


def hand_counted(threshold: int = 5) -> Figures:
    """The story's figures."""
    entries, answers = story_of_activity()
    return figures(
        [*story_of_cases(), *answers],
        entries,
        PERIOD,
        now=NOW,
        kind_of=kind_of,
        lifecycle=LIFECYCLE,
        threshold=threshold,
    )
