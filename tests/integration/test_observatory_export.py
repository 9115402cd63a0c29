"""The observatory export on the embedded broker: reports flow through the routing worker,
``hub observatory export`` counts the cases the hub routed (never a record it refused),
writes a CSV with no cell under the threshold and publishes the same records on
``nrm.observatory``.

Other tests share the broker, so this test's reports are dated on a day of their own
(OPEN_DAY) and the export is asked for that day only.
"""

from __future__ import annotations

import asyncio
import csv
import json
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from eventually import eventually
from flow_helpers import events_for
from typer.testing import CliRunner
from worker_thread import AgencyFactory

from agents.io.reader import read_topics
from agents.redrive import list_dead_letters
from connectors.observatory_cli import observatory_app
from connectors.observatory_export import export
from hub.contracts.enums import DeadLetterReason, Gender
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    PresumedVictimReport,
)
from hub.contracts.examples import INDICATORS
from hub.contracts.topics import OBSERVATORY
from hub.rules.case_facts import Period
from hub.runtime.settings import HubSettings

pytestmark = pytest.mark.usefixtures("worker")

OPEN_DAY = date(2026, 3, 2)
PERIOD = Period(OPEN_DAY, date(2026, 3, 3))
THRESHOLD = 5


def report_on_open_day(gender: Gender) -> PresumedVictimReport:
    case_id = uuid.uuid4()
    report: PresumedVictimReport = events_for(case_id)[PresumedVictimReport]
    opened = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert report.person is not None
    return report.model_copy(
        update={
            "envelope": Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=opened),
            "person": report.person.model_copy(update={"gender": gender}),
        }
    )


async def exported_cases(settings: HubSettings, wanted: int, tmp_path: Path) -> int:
    """Cases the export counts for the day, polling (bounded) until ``wanted`` are routed."""

    async def counted() -> int:
        summary = await export(
            settings, PERIOD, csv_path=tmp_path / "poll.csv", publish_records=False
        )
        assert summary.cases >= wanted, f"{summary.cases} cases exported"
        return summary.cases

    return await eventually(
        counted, timeout_s=30.0, interval_s=0.5, what=f"{wanted} routed cases exported"
    )


async def refused_at(settings: HubSettings, topic: str, partition: int, offset: int) -> str:
    """The reason of the dead letter of one outbox record, polling (bounded) until it exists."""

    async def reason() -> str | None:
        for letter in await list_dead_letters(settings, include_redriven=True):
            if (letter.source_topic, letter.source_partition, letter.source_offset) == (
                topic,
                partition,
                offset,
            ):
                return letter.reason.value
        return None

    return await eventually(
        reason, timeout_s=20.0, interval_s=0.5, what=f"the dead letter of {topic}@{offset}"
    )


async def test_export_counts_routed_cases_suppresses_small_cells_and_publishes(
    agency: AgencyFactory, hub_settings: HubSettings, tmp_path: Path
) -> None:
    association = await agency("association-93")
    # An unsigned report first: the router dead-letters it, and the export must not count it.
    spoof = report_on_open_day(Gender.MALE)
    sent = await association.publish_raw(
        association.codec.encode_event(spoof), str(spoof.envelope.case_id).encode()
    )
    # Six women and one man: the man's cell (1) is under the threshold.
    genders = [Gender.FEMALE] * 6 + [Gender.MALE]
    for gender in genders:
        await association.publish(report_on_open_day(gender))

    # A report with a code outside the indicator grid: dead-lettered, never counted.
    outside = report_on_open_day(Gender.FEMALE).model_copy(update={"indicator_codes": ("TRAV-01",)})
    refused = await association.publish(outside)

    reason = await refused_at(hub_settings, sent.topic, sent.partition, sent.offset)
    assert reason == DeadLetterReason.BAD_SIGNATURE.value
    reason = await refused_at(hub_settings, refused.topic, refused.partition, refused.offset)
    assert reason == DeadLetterReason.UNKNOWN_INDICATOR.value
    assert await exported_cases(hub_settings, len(genders), tmp_path) == len(genders)

    csv_path = tmp_path / "observatory.csv"
    # The command runs its own event loop: invoke it from a thread, as a shell would.
    result = await asyncio.to_thread(
        CliRunner().invoke,
        observatory_app,
        ["export", "--since", "2026-03-02", "--until", "2026-03-03", "--csv", str(csv_path)],
        obj=hub_settings,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["cases"] == len(genders)
    assert summary["published"] == summary["cells"] > 0

    with csv_path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert all(r["period"] == PERIOD.label for r in rows)
    # nothing under the threshold is published ...
    assert all(r["count"] == "" or int(r["count"]) >= THRESHOLD for r in rows)
    gender = {(r["value"], r["outcome"]): r["count"] for r in rows if r["table"] == "gender"}
    assert gender[("MALE", "PENDING")] == ""
    # ... and no suppressed cell is recoverable from its row or column total
    lines: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for r in rows:
        lines[(r["table"], "row", r["value"])].append(r["count"])
        lines[(r["table"], "col", r["outcome"])].append(r["count"])
    assert all(counts.count("") != 1 for counts in lines.values()), lines
    region = {(r["value"], r["outcome"]): r["count"] for r in rows if r["table"] == "region"}
    assert region[("TOTAL", "TOTAL")] == str(len(genders))  # the spoofed report is not counted
    # by indicator: each of the 7 routed reports carries the example's four grid codes
    indicator = {(r["value"], r["outcome"]): r["count"] for r in rows if r["table"] == "indicator"}
    assert {code for code, _outcome in indicator} == {*INDICATORS, "TOTAL"}
    assert all(indicator[(code, "PENDING")] == str(len(genders)) for code in INDICATORS)
    assert indicator[("TOTAL", "TOTAL")] == str(len(genders) * len(INDICATORS))
    text = csv_path.read_text(encoding="utf-8")
    assert "Amina" not in text
    assert "Diallo" not in text

    published = [
        json.loads(record.value)
        for record in await read_topics(hub_settings, [OBSERVATORY.name])
        if record.key and record.key.decode().startswith(PERIOD.label + "/")
    ]
    assert len(published) >= summary["cells"]
    assert {p["table"] for p in published} == {r["table"] for r in rows}
    assert all(p["count"] is None or p["count"] >= THRESHOLD for p in published)


def test_a_bad_date_is_refused_with_a_clear_message(hub_settings: HubSettings) -> None:
    result = CliRunner().invoke(observatory_app, ["export", "--since", "March"], obj=hub_settings)
    assert result.exit_code == 2
    assert "--since doit être une date" in result.output
