"""The coordination committee's figures against a hand count: a small known story of events and
audit entries, and the numbers written out by hand (small cells suppressed, secondary
suppression included)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from monitoring_story import (
    DAY,
    LIFECYCLE,
    PERIOD,
    REASONABLE,
    W45,
    deadline,
    entry,
    event,
    hand_counted,
)
from pydantic import BaseModel

from hub.contracts.enums import (
    AuditAction,
    IdentificationOutcome,
)
from hub.contracts.events import (
    IdentificationDecision,
    PresumedVictimReport,
    ReferralOpened,
)
from hub.rules.answer_times import answer_deadlines, percentile
from hub.rules.case_facts import Period
from hub.rules.disclosure import TOTAL
from hub.rules.monitoring import (
    Delay,
    Figures,
    activity_timeline,
    bucket_of,
    buckets,
    conclusive_at,
)


@pytest.fixture(scope="module")
def shown() -> Figures:
    return hand_counted(threshold=5)


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


def test_an_identifying_authority_answers_a_report_with_its_decision() -> None:
    case_id, decision = uuid.uuid4(), uuid.uuid4()
    opened = datetime(2026, 11, 3, 10, tzinfo=UTC)
    entries = [
        entry(
            case_id,
            1,
            opened,
            AuditAction.ROUTED,
            "deadline opened",
            recipient="inspection-travail-93",
            reason=f"due {(opened + 3 * DAY).isoformat()}",
        ),
        entry(
            case_id,
            2,
            opened + DAY,
            AuditAction.RECEIVED,
            "received",
            actor="inspection-travail-93",
            event_id=decision,
        ),
        entry(
            case_id,
            3,
            opened + DAY,
            AuditAction.CASE_TRANSITION,
            "identification decision REASONABLE_GROUNDS",
            event_id=decision,
        ),
    ]
    (found,) = answer_deadlines(entries)
    assert found.answered_at == opened + DAY
    assert found.on_time() is True
    # another agency's answer, or an entry of another event, answers nothing
    other = [entries[0], entries[1].model_copy(update={"actor": "police-93"}), entries[2]]
    assert answer_deadlines(other)[0].answered_at is None
    assert answer_deadlines(other)[0].on_time() is False


def test_an_unanswered_request_is_overdue_only_once_its_due_instant_has_passed() -> None:
    opened = datetime(2026, 11, 3, 10, tzinfo=UTC)
    entries = [
        *deadline("association-93", opened, 3 * DAY, None),  # due 6 Nov: past on 9 Nov
        *deadline("association-75", opened, 9 * DAY, None),  # due 12 Nov: not yet on 9 Nov
    ]
    now = datetime(2026, 11, 9, 9, tzinfo=UTC)
    counts = activity_timeline(entries, answer_deadlines(entries), [], PERIOD, True, now)
    assert counts["needs"] == {("OVERDUE", "2026-W45"): 1}
