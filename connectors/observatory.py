"""Observatory export (CNCDH Rec. 7): anonymised aggregates with small-cell suppression.

From decoded case events (reports, referrals, identification decisions, requests and their
acknowledgements) it builds one record per case and one per request, then two-way tables —
each dimension crossed with the identification outcome — with row, column and grand totals.
Every cell (totals included) under the threshold (default 5) is suppressed, then secondary
suppression runs until no row or column of the table (its total included) has exactly one
suppressed entry, so no suppressed cell can be recovered by subtracting the published cells
of its row or column from the published total.

For multi-valued dimensions (exploitation types, indicators) a case is counted once per
value; totals are the sums of the cells (mentions, not cases), so tables stay additive.
Indicators are counted by their code in the shared grid (``deploy/config/indicators.yaml``); a
code the grid does not have (a record accepted before the grid existed) is counted as
``OUTSIDE_GRID``, never under its own text: row names are published even when their cells are
suppressed, and a free string could name someone.

Output: a CSV file and JSON records on ``nrm.observatory``. The JSON is a hub-internal
aggregate format (``nrm.observatory.v1``), not an Avro contract: it carries no personal data
and no case id, and it is read by the observatory's own tools.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

from pydantic import BaseModel

from hub.contracts.events import (
    Acknowledgement,
    Person,
    PresumedVictimReport,
    ReferralOpened,
)
from hub.rules.case_facts import by_case, identification
from hub.rules.disclosure import DEFAULT_THRESHOLD, Cell, PublishedTable, Table, suppress
from hub.rules.indicators import IndicatorGrid
from hub.rules.lifecycle import Lifecycle

UNKNOWN = "UNKNOWN"
OUTSIDE_GRID = "OUTSIDE_GRID"
FORMAT = "nrm.observatory.v1"
DIMENSIONS = ("exploitation_type", "indicator", "region", "age_band", "gender", "ack_band")


@dataclass(frozen=True)
class CaseFacts:
    """What the observatory keeps of one case: categories only, no identifiers."""

    exploitation_types: tuple[str, ...]
    indicators: tuple[str, ...]
    region: str
    age_band: str
    gender: str
    outcome: str


def age_band(person: Person | None, at: date) -> str:
    """``<18``, ``18-24``, ``25-34``, ``35-49``, ``50+`` or UNKNOWN."""
    if person is None:
        return UNKNOWN
    if person.date_of_birth is None:
        return "<18" if person.is_minor else UNKNOWN
    born = person.date_of_birth
    age = at.year - born.year - ((at.month, at.day) < (born.month, born.day))
    for upper, band in ((18, "<18"), (25, "18-24"), (35, "25-34"), (50, "35-49")):
        if age < upper:
            return band
    return "50+"


def ack_band(delay: timedelta | None) -> str:
    """Time to the first acknowledgement of a request, in bands."""
    if delay is None:
        return "none"
    for upper, band in ((1, "<1d"), (3, "1-3d"), (7, "3-7d")):
        if delay < timedelta(days=upper):
            return band
    return ">7d"


def grid_codes(codes: Iterable[str], grid: IndicatorGrid) -> tuple[str, ...]:
    """The distinct codes of a case as the observatory counts them: grid codes as themselves
    (withdrawn ones too: they were valid when sent), any other as ``OUTSIDE_GRID``, none as
    ``UNKNOWN``."""
    return tuple(sorted({c if grid.get(c) else OUTSIDE_GRID for c in codes})) or (UNKNOWN,)


def case_facts(
    events: Iterable[BaseModel],
    region_of: Callable[[str], str | None],
    lifecycle: Lifecycle,
    indicators: IndicatorGrid,
) -> tuple[list[CaseFacts], list[tuple[str, str]]]:
    """Per-case facts and per-request (ack band, case outcome) pairs, from decoded events.

    A case counts when it has a report or a referral; the latest report or referral gives its
    categories, ``identification`` its outcome."""
    cases: list[CaseFacts] = []
    requests: list[tuple[str, str]] = []
    for case_events in by_case(events).values():
        ordered = sorted(case_events, key=lambda e: e.envelope.occurred_at)  # type: ignore[attr-defined]
        sources = [e for e in ordered if isinstance(e, PresumedVictimReport | ReferralOpened)]
        if not sources:
            continue
        source = sources[-1]
        assert isinstance(source, PresumedVictimReport | ReferralOpened)
        outcome = identification(ordered, lifecycle)
        person = source.person
        cases.append(
            CaseFacts(
                exploitation_types=tuple(sorted({t.value for t in source.exploitation_types}))
                or (UNKNOWN,),
                indicators=grid_codes(source.indicator_codes, indicators),
                region=region_of(source.departement) or UNKNOWN,
                age_band=age_band(person, source.envelope.occurred_at.date()),
                gender=person.gender.value if person and person.gender else UNKNOWN,
                outcome=outcome,
            )
        )
        asked: dict[UUID, datetime] = {}
        answered: dict[UUID, datetime] = {}
        for event in ordered:
            request_id = getattr(event, "request_id", None)
            if not isinstance(request_id, UUID):
                continue
            at: datetime = event.envelope.occurred_at  # type: ignore[attr-defined]
            if isinstance(event, Acknowledgement):
                answered.setdefault(request_id, at)
            else:
                asked.setdefault(request_id, at)
        for request_id, at in asked.items():
            done = answered.get(request_id)
            requests.append((ack_band(done - at if done else None), outcome))
    return cases, requests


def count_tables(
    cases: Iterable[CaseFacts], requests: Iterable[tuple[str, str]]
) -> dict[str, Table]:
    """Raw two-way counts: each dimension × outcome."""
    tables: dict[str, Counter[Cell]] = {name: Counter() for name in DIMENSIONS}
    for case in cases:
        for value in case.exploitation_types:
            tables["exploitation_type"][(value, case.outcome)] += 1
        for value in case.indicators:
            tables["indicator"][(value, case.outcome)] += 1
        tables["region"][(case.region, case.outcome)] += 1
        tables["age_band"][(case.age_band, case.outcome)] += 1
        tables["gender"][(case.gender, case.outcome)] += 1
    for band, outcome in requests:
        tables["ack_band"][(band, outcome)] += 1
    return {name: dict(counts) for name, counts in tables.items()}


def build(
    events: Iterable[BaseModel],
    region_of: Callable[[str], str | None],
    threshold: int = DEFAULT_THRESHOLD,
    *,
    lifecycle: Lifecycle,
    indicators: IndicatorGrid,
) -> list[PublishedTable]:
    """Every published table, suppressed."""
    cases, requests = case_facts(events, region_of, lifecycle, indicators)
    published = []
    for name, table in count_tables(cases, requests).items():
        if not table:
            continue
        rows, cols, cells = suppress(table, threshold)
        published.append(PublishedTable(name, rows, cols, cells))
    return published


def records(
    tables: Iterable[PublishedTable], period: str, threshold: int
) -> list[dict[str, object]]:
    """One flat record per cell (suppressed cells have ``count`` None and ``suppressed``)."""
    return [
        {
            "format": FORMAT,
            "period": period,
            "table": table.name,
            "dimension": table.name,
            "value": r,
            "outcome": c,
            "count": n,
            "suppressed": n is None,
            "threshold": threshold,
        }
        for table in tables
        for (r, c), n in sorted(table.cells.items())
    ]
