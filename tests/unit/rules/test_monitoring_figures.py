"""The coordination committee's figures against a hand count: a small known story of events and
audit entries, and the numbers written out by hand (small cells suppressed, secondary
suppression included)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flow_helpers import events_for
from pydantic import BaseModel

from hub.contracts.enums import (
    AckStatus,
    AgencyRole,
    AuditAction,
    ExploitationType,
    IdentificationOutcome,
)
from hub.contracts.events import (
    Acknowledgement,
    IdentificationDecision,
    PresumedVictimReport,
    ReferralOpened,
)
from hub.contracts.hub_records import AuditEntry
from hub.rules.answer_times import answer_deadlines, percentile
from hub.rules.case_facts import Period
from hub.rules.disclosure import TOTAL
from hub.rules.lifecycle import Lifecycle
from hub.rules.monitoring import Delay, Figures, Sent, bucket_of, buckets, conclusive_at, figures
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


@pytest.fixture(scope="module")
def shown() -> Figures:
    entries, answers = story_of_activity()
    return figures(
        [*story_of_cases(), *answers],
        entries,
        PERIOD,
        now=NOW,
        kind_of=kind_of,
        lifecycle=LIFECYCLE,
        threshold=5,
    )


def published(figures_: Figures, table: str) -> dict[tuple[str, str], int]:
    """The cells of a table that are published (suppressed ones left out)."""
    return {cell: n for cell, n in figures_.tables[table].cells.items() if n is not None}


def test_the_period_is_cut_into_iso_weeks(shown: Figures) -> None:
    assert shown.buckets == ("2026-W45", "2026-W46")


def test_referrals_by_form_over_time_hide_the_lone_case_and_what_would_reveal_it(
    shown: Figures,
) -> None:
    # By hand: LABOUR 6 in W45 and 9 in W46, SEXUAL 0 and 1: 16 cases (two outside the period).
    # SEXUAL is under 5 everywhere; LABOUR's cells then equal their column totals minus a
    # hidden cell, so they are hidden too; only the totals of the weeks stay.
    assert published(shown, "referrals_by_form") == {
        (TOTAL, "2026-W45"): 6,
        (TOTAL, "2026-W46"): 10,
        (TOTAL, TOTAL): 16,
    }
    assert published(shown, "referrals_by_departement") == published(shown, "referrals_by_form")


def test_identification_and_the_share_identified(shown: Figures) -> None:
    # By hand: identified A1..A5 = 5, not identified B1..B5 = 5, pending A6, C1..C4, S1 = 6.
    assert published(shown, "identification") == {
        ("IDENTIFIED", "CASES"): 5,
        ("IDENTIFIED", TOTAL): 5,
        ("NOT_IDENTIFIED", "CASES"): 5,
        ("NOT_IDENTIFIED", TOTAL): 5,
        ("PENDING", "CASES"): 6,
        ("PENDING", TOTAL): 6,
        (TOTAL, "CASES"): 16,
        (TOTAL, TOTAL): 16,
    }
    assert shown.share_identified == pytest.approx(5 / 16, abs=0.001)


def test_times_to_decisions_median_and_p90(shown: Figures) -> None:
    delays = {d.label: d for d in shown.delays}
    # grounds after 1..6 days: median 3.5, p90 = 6th of 6 (nearest rank)
    assert delays["report_to_reasonable_grounds"] == Delay(
        "report_to_reasonable_grounds", 6, 3.5, 6.0
    )
    # conclusive: 2, 2, 2, 2, 2, 10, 12, 14, 16, 18 days: median 6, p90 = 9th of 10 = 16
    assert delays["report_to_conclusive"] == Delay("report_to_conclusive", 10, 6.0, 16.0)


def test_answer_deadlines_per_agency_kind(shown: Figures) -> None:
    # By hand: prefecture 4 on time (1, 1, 1, 2 days for 2) and 1 late (3 days); association 1
    # past due unanswered (the other is not yet due). Every cell is under 5; the prefecture's
    # total (5) would reveal the association's (6 - 5), so only the grand total stays.
    assert published(shown, "deadlines_by_agency_kind") == {(TOTAL, TOTAL): 6}
    delays = {d.label: d for d in shown.delays}
    assert delays["ack:PREFECTURE"] == Delay("ack:PREFECTURE", 5, 1.0, 3.0)
    assert delays["ack:SUPPORT_ASSOCIATION"] == Delay("ack:SUPPORT_ASSOCIATION", 0, None, None)


def test_overdue_orphaned_and_holds_are_all_small_so_all_hidden(shown: Figures) -> None:
    # overdue: the late prefecture answer and the unanswered association request (W45): 2;
    # orphaned: 1 (W46); holds: 1 held, 1 released. All under 5, totals too.
    assert published(shown, "needs") == {}
    assert published(shown, "holds") == {}
    raw = shown.tables["needs"]
    assert raw.rows == ("ORPHANED", "OVERDUE", TOTAL)


def test_permits_requested_receipts_granted_refused_and_reflection_periods(shown: Figures) -> None:
    # By hand: 5 requested and 5 receipts in W45, 1 granted and 1 refused in W46 (the
    # association's COMPLETED is not a permit), 1 reflection period opened in W45: 13.
    # The single grant, refusal and reflection period are hidden; each row's week cells go with
    # them (W46's total is 2, so W45's total would give it away).
    assert published(shown, "permits") == {
        ("RECEIPT", TOTAL): 5,
        ("REQUESTED", TOTAL): 5,
        (TOTAL, TOTAL): 13,
    }


NOT_DECIDED: list[tuple[type[BaseModel], IdentificationOutcome | None]] = [
    (PresumedVictimReport, None),
    (IdentificationDecision, IdentificationOutcome.TRANSFERRED),
]


@pytest.mark.parametrize(
    ("steps", "decided_after"),
    [
        ([(PresumedVictimReport, None), (IdentificationDecision, REASONABLE)], None),
        (NOT_DECIDED, None),
        (
            [
                (PresumedVictimReport, None),
                (IdentificationDecision, IdentificationOutcome.IDENTIFIED),
            ],
            1,
        ),
        ([(PresumedVictimReport, None), (ReferralOpened, None)], 1),  # formal identification
        # the lifecycle refuses IDENTIFIED before the report: the report does not decide
        (
            [
                (IdentificationDecision, IdentificationOutcome.IDENTIFIED),
                (PresumedVictimReport, None),
            ],
            None,
        ),
    ],
)
def test_when_a_case_counts_as_decided(
    steps: list[tuple[type[BaseModel], IdentificationOutcome | None]], decided_after: int | None
) -> None:
    case_id = uuid.uuid4()
    events = [
        event(kind, case_id, W45 + n * DAY, **({"outcome": outcome} if outcome else {}))
        for n, (kind, outcome) in enumerate(steps)
    ]
    expected = None if decided_after is None else W45 + decided_after * DAY
    assert conclusive_at(events, LIFECYCLE) == expected


@pytest.mark.parametrize(
    ("since", "until", "first", "last", "count"),
    [
        (date(2026, 11, 2), date(2026, 11, 16), "2026-W45", "2026-W46", 2),
        (date(2026, 12, 28), date(2027, 1, 4), "2026-W53", "2026-W53", 1),  # ISO year
        (date(2026, 1, 1), date(2027, 1, 1), "2026-01", "2026-12", 12),  # long: months
    ],
)
def test_buckets(since: date, until: date, first: str, last: str, count: int) -> None:
    labels, _weekly = buckets(Period(since, until))
    assert (labels[0], labels[-1], len(labels)) == (first, last, count)


def test_nearest_rank_percentile_and_bucket_labels() -> None:
    assert percentile([], 0.9) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert bucket_of(date(2026, 11, 30), weekly=False) == "2026-11"
    assert answer_deadlines([]) == []
