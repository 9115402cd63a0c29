"""The observatory export's I/O: read a period's events from the topics, build the tables
(``connectors.observatory``, pure), write the CSV and publish the records to their topic."""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from pathlib import Path

import structlog
from pydantic import BaseModel

from agents.io.records import raw_record
from connectors.observatory import build, records
from hub.contracts.codec import Codec, CodecError
from hub.flow.decisions import Inbound
from hub.flow.ingest import RawRecord, accept
from hub.rules.case_facts import Period, opened_in
from hub.rules.directory import Directory
from hub.rules.disclosure import DEFAULT_THRESHOLD
from hub.rules.indicators import IndicatorGrid
from hub.rules.lifecycle import Lifecycle
from hub.runtime.settings import HubSettings


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


Position = tuple[str, int, int]


def routed_events(
    records: Iterable[RawRecord], refused: Set[Position], codec: Codec, directory: Directory
) -> list[Inbound]:
    """The events the hub accepted: outbox records it did not dead-letter (signature, ingest
    and case rules all passed), decoded and checked again at ingest. Duplicates (the same
    event redelivered) are harmless: facts are per case and per request."""
    events = []
    for raw in records:
        if (raw.topic, raw.partition, raw.offset) in refused:
            continue
        accepted = accept(raw, codec, directory)
        if isinstance(accepted, Inbound):
            events.append(accepted)
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


@dataclass(frozen=True)
class Routed:
    """What the router has finished with: the accepted records (each with its proven sender),
    the directory they were read with, and how many outbox records were read."""

    inbound: list[Inbound]
    directory: Directory
    records_read: int

    @property
    def events(self) -> list[BaseModel]:
        """The accepted events, decoded."""
        return [i.event for i in self.inbound]


async def read_routed(settings: HubSettings) -> Routed:
    """Every agency outbox on the broker, read up to the router group's committed offsets
    (what the hub has finished with), minus the records it dead-lettered (``nrm.deadletters``
    names their positions); the directory is the configured one plus ``nrm.directory``."""
    from agents.io.reader import committed_offsets, read_topics, topics_with_prefix
    from agents.redrive import read_letters
    from agents.router import GROUP_ID
    from hub.contracts.hub_records import (
        DirectoryEntry,
    )
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
    return Routed(routed_events(raw, refused, codec, directory), directory, len(raw))


async def export(
    settings: HubSettings,
    period: Period,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    csv_path: Path | None = None,
    publish_records: bool = True,
) -> ExportSummary:
    """Read what the router has processed (``read_routed``), aggregate, suppress, write CSV
    and the topic."""
    routed = await read_routed(settings)
    directory = routed.directory
    events = opened_in(routed.events, period)
    lifecycle = Lifecycle.load(settings.config_dir)
    grid = IndicatorGrid.load(settings.config_dir)
    tables = build(events, directory.region_of, threshold, lifecycle=lifecycle, indicators=grid)
    rows = records(tables, period.label, threshold)
    if csv_path is not None:
        write_csv(rows, csv_path)
    published = await publish(rows, settings) if publish_records else 0
    return ExportSummary(
        period=period.label,
        records_read=routed.records_read,
        events_counted=len(events),
        cases=len({e.envelope.case_id for e in events}),  # type: ignore[attr-defined]
        cells=len(rows),
        suppressed=sum(1 for row in rows if row["suppressed"]),
        published=published,
        csv_path=str(csv_path) if csv_path else None,
    )
