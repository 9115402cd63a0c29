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

Output: a CSV file and JSON records on ``nrm.observatory``. The JSON is a hub-internal
aggregate format (``nrm.observatory.v1``), not an Avro contract: it carries no personal data
and no case id, and it is read by the observatory's own tools.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import structlog
from pydantic import BaseModel

from agents.io.records import raw_record
from hub.contracts.codec import Codec, CodecError
from hub.contracts.enums import IdentificationOutcome, avro_full_name
from hub.contracts.events import (
    Acknowledgement,
    IdentificationDecision,
    Person,
    PresumedVictimReport,
    ReferralOpened,
)
from hub.flow.decisions import Inbound
from hub.flow.ingest import RawRecord, accept
from hub.rules.directory import Directory
from hub.rules.lifecycle import CaseStatus, Lifecycle, Moved
from hub.runtime.settings import HubSettings

DEFAULT_THRESHOLD = 5
TOTAL = "TOTAL"
PENDING = "PENDING"
UNKNOWN = "UNKNOWN"
FORMAT = "nrm.observatory.v1"
DIMENSIONS = ("exploitation_type", "indicator", "region", "age_band", "gender", "ack_band")

Cell = tuple[str, str]
Table = dict[Cell, int]


@dataclass(frozen=True)
class CaseFacts:
    """What the observatory keeps of one case: categories only, no identifiers."""

    exploitation_types: tuple[str, ...]
    indicators: tuple[str, ...]
    region: str
    age_band: str
    gender: str
    outcome: str


@dataclass(frozen=True)
class PublishedTable:
    """A suppressed two-way table: ``None`` marks a suppressed cell."""

    name: str
    rows: tuple[str, ...]
    cols: tuple[str, ...]
    cells: dict[Cell, int | None]


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


def case_facts(
    events: Iterable[BaseModel], region_of: Callable[[str], str | None], lifecycle: Lifecycle
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
                indicators=tuple(sorted(set(source.indicator_codes))) or (UNKNOWN,),
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


def with_totals(table: Mapping[Cell, int]) -> tuple[tuple[str, ...], tuple[str, ...], Table]:
    """The table's rows and columns (each ending with TOTAL) and every cell, totals included
    (absent cells are 0)."""
    rows = tuple(sorted({r for r, _ in table}))
    cols = tuple(sorted({c for _, c in table}))
    full: Table = {(r, c): table.get((r, c), 0) for r in rows for c in cols}
    for r in rows:
        full[(r, TOTAL)] = sum(full[(r, c)] for c in cols)
    for c in (*cols, TOTAL):
        full[(TOTAL, c)] = sum(full[(r, c)] for r in rows)
    return (*rows, TOTAL), (*cols, TOTAL), full


def lines(rows: tuple[str, ...], cols: tuple[str, ...]) -> list[list[Cell]]:
    """Every row and every column of an augmented table (each ends with its total)."""
    return [[(r, c) for c in cols] for r in rows] + [[(r, c) for r in rows] for c in cols]


def suppress(
    table: Mapping[Cell, int], threshold: int = DEFAULT_THRESHOLD
) -> tuple[tuple[str, ...], tuple[str, ...], dict[Cell, int | None]]:
    """Primary suppression (every cell or total under ``threshold``), then secondary
    suppression until no row or column has exactly one suppressed entry: the smallest other
    entry of that line is suppressed too (cells before totals, then by name for stability)."""
    rows, cols, full = with_totals(table)
    hidden = {cell for cell, n in full.items() if n < threshold}
    changed = True
    while changed:
        changed = False
        for line in lines(rows, cols):
            if sum(cell in hidden for cell in line) != 1:
                continue
            shown = [cell for cell in line if cell not in hidden]
            pick = min(shown, key=lambda cell: (TOTAL in cell, full[cell], cell))
            hidden.add(pick)
            changed = True
    return rows, cols, {cell: None if cell in hidden else n for cell, n in full.items()}


def build(
    events: Iterable[BaseModel],
    region_of: Callable[[str], str | None],
    threshold: int = DEFAULT_THRESHOLD,
    *,
    lifecycle: Lifecycle,
) -> list[PublishedTable]:
    """Every published table, suppressed."""
    cases, requests = case_facts(events, region_of, lifecycle)
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


def write_csv(rows: list[dict[str, object]], path: Path) -> None:
    """The records as CSV (suppressed counts are empty)."""
    fields = ["format", "period", "table", "dimension", "value", "outcome", "count"]
    fields += ["suppressed", "threshold"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "count": "" if row["count"] is None else row["count"]})


def to_json(row: Mapping[str, object]) -> bytes:
    """One record as the topic's JSON value."""
    return json.dumps(row, ensure_ascii=False, sort_keys=True).encode()


async def publish(rows: list[dict[str, object]], settings: HubSettings) -> int:
    """Send the records to ``nrm.observatory`` (keyed by period and table); returns how many."""
    from agents.io import clients
    from hub.contracts.topics import OBSERVATORY

    producer = clients.producer(settings)
    await producer.start()
    try:
        for row in rows:
            key = f"{row['period']}/{row['table']}".encode()
            await producer.send(OBSERVATORY.name, to_json(row), key=key)
        await producer.flush()
    finally:
        await producer.stop()
    return len(rows)


# ----------------------------------------------------------------------------- the export job


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


Position = tuple[str, int, int]


def routed_events(
    records: Iterable[RawRecord], refused: Set[Position], codec: Codec, directory: Directory
) -> list[BaseModel]:
    """The events the hub accepted: outbox records it did not dead-letter (signature, ingest
    and case rules all passed), decoded and checked again at ingest. Duplicates (the same
    event redelivered) are harmless: facts are per case and per request."""
    events = []
    for raw in records:
        if (raw.topic, raw.partition, raw.offset) in refused:
            continue
        accepted = accept(raw, codec, directory)
        if isinstance(accepted, Inbound):
            events.append(accepted.event)
    return events


@dataclass(frozen=True)
class ExportSummary:
    """What one export read and wrote."""

    period: str
    records_read: int
    events_counted: int
    cases: int
    cells: int
    suppressed: int
    published: int
    csv_path: str | None


async def export(
    settings: HubSettings,
    period: Period,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    csv_path: Path | None = None,
    publish_records: bool = True,
) -> ExportSummary:
    """Read what the router has processed, aggregate, suppress, write CSV and the topic.

    Every agency outbox on the broker is read up to the router group's committed offsets
    (what the hub has finished with), minus the records it dead-lettered (``nrm.deadletters``
    names their positions); the directory is the configured one plus ``nrm.directory``."""
    from agents.io.reader import committed_offsets, read_topics, topics_with_prefix
    from agents.redrive import read_letters
    from agents.router import GROUP_ID
    from hub.contracts.events import DirectoryEntry
    from hub.contracts.registry import SchemaRegistry
    from hub.contracts.topics import DEAD_LETTERS, DIRECTORY, OUTBOX_PREFIX
    from hub.trust.directory_authority import SignedDirectory, configured_authority

    codec = Codec(
        SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
    )
    # Only what the directory authority signed, exactly as the worker's follower applies it.
    signed = SignedDirectory(Directory.load(settings.config_dir), configured_authority(settings))
    for record in await read_topics(settings, [DIRECTORY.name]):
        with contextlib.suppress(CodecError):
            entry = codec.decode_event(record.value or b"")
            if isinstance(entry, DirectoryEntry):
                decision = signed.feed(
                    record.topic, record.key, record.value, record.headers, entry
                )
                if decision.refusal is not None:
                    structlog.get_logger(__name__).error(
                        "directory.refused",
                        offset=record.offset,
                        agency=entry.agency_id,
                        reason=decision.refusal.value,
                        detail=decision.detail,
                    )
    directory = signed.directory
    outboxes = await topics_with_prefix(settings, OUTBOX_PREFIX)
    done = await committed_offsets(settings, GROUP_ID, outboxes)
    raw = [
        raw_record(r, outboxes[r.topic])
        for r in await read_topics(settings, outboxes, stop_at=done)
    ]
    refused = {
        (d.source_topic, d.source_partition, d.source_offset)
        for d in await read_letters(settings, DEAD_LETTERS.name)
    }
    events = opened_in(routed_events(raw, refused, codec, directory), period)
    lifecycle = Lifecycle.load(settings.config_dir)
    tables = build(events, directory.region_of, threshold, lifecycle=lifecycle)
    rows = records(tables, period.label, threshold)
    if csv_path is not None:
        write_csv(rows, csv_path)
    published = await publish(rows, settings) if publish_records else 0
    return ExportSummary(
        period=period.label,
        records_read=len(raw),
        events_counted=len(events),
        cases=len({e.envelope.case_id for e in events}),  # type: ignore[attr-defined]
        cells=len(rows),
        suppressed=sum(1 for row in rows if row["suppressed"]),
        published=published,
        csv_path=str(csv_path) if csv_path else None,
    )
