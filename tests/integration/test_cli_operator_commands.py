"""The operator's CLI on the real broker (issue 22, item 6): ids by unique prefix, full ids
in tables at 80 columns, ``--json`` on listings, Paris time with its zone, logs on stderr
and tables on stdout, and a re-drive refused where no fix can help."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from eventually import eventually
from flow_helpers import envelope, events_for
from redrive_records import letter_headers
from typer.testing import CliRunner
from worker_thread import AgencyFactory

from agents.redrive import list_dead_letters, redriven_ids
from hub.cli.app import app
from hub.contracts.codec import Codec
from hub.contracts.enums import DeadLetterReason
from hub.contracts.events import (
    PresumedVictimReport,
)
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import DEAD_LETTERS
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings

pytestmark = pytest.mark.usefixtures("worker")
runner = CliRunner()


def invoke(settings: HubSettings, *argv: str) -> Any:
    return runner.invoke(app, list(argv), obj=settings)


def letter(reason: DeadLetterReason, letter_id: uuid.UUID, **fields: Any) -> DeadLetter:
    return DeadLetter(
        dead_letter_id=letter_id,
        occurred_at=datetime(2026, 12, 6, 9, 30, tzinfo=UTC),
        reason=reason,
        detail=f"test {reason.value}",
        original=b"\x00\x00\x00\x00\x01junk",
        source_topic="nrm.outbox.police-93",
        source_partition=0,
        source_offset=1,
        case_id=uuid.uuid4(),
        **fields,
    )


@pytest.fixture(scope="module")
def letters(hub_settings: HubSettings) -> dict[str, DeadLetter]:
    """Dead letters written to the topic as the worker writes them (signed by the hub): one
    unsigned record's, one forged, one a fix can help, and two whose ids share their first 8
    characters."""
    twin = uuid.uuid4().hex[:8]
    made = {
        "unsigned": letter(DeadLetterReason.BAD_SIGNATURE, uuid.uuid4()),
        "forged": letter(DeadLetterReason.SPOOFED_SENDER, uuid.uuid4(), claimed_sender="ofii"),
        "fixable": letter(DeadLetterReason.NO_ELIGIBLE_RECIPIENT, uuid.uuid4()),
        "twin-a": letter(
            DeadLetterReason.UNKNOWN_SCHEMA_ID, uuid.UUID(twin + uuid.uuid4().hex[8:])
        ),
        "twin-b": letter(
            DeadLetterReason.UNKNOWN_SCHEMA_ID, uuid.UUID(twin + uuid.uuid4().hex[8:])
        ),
    }
    codec = Codec(SchemaRegistry.load(hub_settings.schemas_dir))

    async def write() -> None:
        producer = AIOKafkaProducer(**client_options(hub_settings))
        await producer.start()
        try:
            for item in made.values():
                key = str(item.case_id).encode()
                value = codec.encode_event(item)
                await producer.send_and_wait(
                    DEAD_LETTERS.name, value, key=key, headers=letter_headers(item, value)
                )
        finally:
            await producer.stop()

    asyncio.run(write())
    return made


def test_deadletters_list_shows_whole_ids_at_80_columns_and_json(
    hub_settings: HubSettings, letters: dict[str, DeadLetter]
) -> None:
    table = invoke(hub_settings, "deadletters", "list")
    assert table.exit_code == 0, table.output
    assert "…" not in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    for item in letters.values():  # whole, on one line: copied and pasted as is
        assert str(item.dead_letter_id) in table.stdout
        assert str(item.case_id) in table.stdout
    assert "2026-12-06 10:30 CET" in table.stdout  # 09:30 UTC, in Paris time

    listed = invoke(hub_settings, "deadletters", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {row["dead_letter_id"]: row for row in json.loads(listed.stdout)}
    assert rows[str(letters["unsigned"].dead_letter_id)]["redrive_refusal"]
    assert rows[str(letters["forged"].dead_letter_id)]["redrive_refusal"]
    assert rows[str(letters["fixable"].dead_letter_id)]["redrive_refusal"] is None
    assert "original" not in rows[str(letters["fixable"].dead_letter_id)]  # no personal bytes


@pytest.mark.parametrize("which", ["unsigned", "forged"])
def test_redrive_refuses_a_forged_or_unsigned_letter_in_one_line(
    hub_settings: HubSettings, letters: dict[str, DeadLetter], which: str
) -> None:
    wanted = letters[which].dead_letter_id
    refused = invoke(hub_settings, "deadletters", "redrive", str(wanted)[:8])
    assert refused.exit_code == 1
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "relance refusée" in refused.stderr
    assert refused.stdout == ""
    assert wanted not in asyncio.run(redriven_ids(hub_settings))


def test_an_ambiguous_prefix_is_refused_with_the_count(
    hub_settings: HubSettings, letters: dict[str, DeadLetter]
) -> None:
    prefix = str(letters["twin-a"].dead_letter_id)[:8]
    result = invoke(hub_settings, "deadletters", "redrive", prefix)
    assert result.exit_code == 2
    assert "2 lettres mortes" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    done = asyncio.run(redriven_ids(hub_settings))
    assert not {letters["twin-a"].dead_letter_id, letters["twin-b"].dead_letter_id} & done


def test_a_unique_prefix_redrives_the_letter_a_fix_can_help(
    hub_settings: HubSettings, letters: dict[str, DeadLetter]
) -> None:
    wanted = letters["fixable"].dead_letter_id
    result = invoke(hub_settings, "deadletters", "redrive", str(wanted)[:6])
    assert result.exit_code == 0, result.output
    assert str(wanted) in result.stdout
    assert wanted in asyncio.run(redriven_ids(hub_settings))
    remaining = {d.dead_letter_id for d in asyncio.run(list_dead_letters(hub_settings))}
    assert wanted not in remaining


async def test_case_show_by_prefix_prints_paris_time_and_keeps_logs_off_stdout(
    agency: AgencyFactory, hub_settings: HubSettings, tmp_path: Path
) -> None:
    case_id = uuid.uuid4()
    police = await agency("police-93")
    report = events_for(case_id)[PresumedVictimReport]
    await police.publish(report.model_copy(update={"envelope": envelope(case_id)}))

    async def shown() -> bool:
        result = await asyncio.to_thread(invoke, hub_settings, "case", "show", str(case_id))
        return result.exit_code == 0

    await eventually(shown, timeout_s=20, interval_s=0.5, what=f"case {case_id} in the store")
    hub = shutil.which("hub", path=str(Path(sys.executable).parent))
    assert hub is not None
    env = {
        **os.environ,
        "HUB_BOOTSTRAP_SERVERS": hub_settings.bootstrap_servers,
        "HUB_DATA_DIR": str(tmp_path),
        "COLUMNS": "80",
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [hub, "case", "show", str(case_id)[:8]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert str(case_id) in done.stdout
    assert "case_store.recovered" in done.stderr  # the log line exists, on stderr
    assert "case_store" not in done.stdout
    assert re.search(r"\d{2}:\d{2} CES?T", done.stdout), done.stdout
    shown = await asyncio.to_thread(invoke, hub_settings, "case", "show", str(case_id), "--json")
    summary = json.loads(shown.stdout)
    assert summary["open_requests"]  # the report asked for identification
    for request in summary["open_requests"]:
        assert request["request_id"] in done.stdout  # whole, on one line, at 80 columns


def test_revoking_a_key_without_yes_changes_nothing(hub_settings: HubSettings) -> None:
    def keys() -> list[str]:
        shown = invoke(hub_settings, "directory", "show", "prefecture-93", "--json")
        assert shown.exit_code == 0, shown.output
        (agency,) = json.loads(shown.stdout)["agencies"]
        return [k["key_id"] for k in agency["signing_keys"]]

    before = keys()
    assert before
    refused = invoke(hub_settings, "directory", "revoke-key", "prefecture-93", before[0])
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "publié" not in refused.stdout
    assert keys() == before


def test_prefecture_answer_takes_a_unique_prefix(hub_settings: HubSettings, tmp_path: Path) -> None:
    from connectors.prefecture.queue import WorkQueue

    db = tmp_path / "queue.sqlite"
    request_id = uuid.uuid4()
    with WorkQueue(db) as queue:
        queue.add(
            request_id=request_id,
            case_id=uuid.uuid4(),
            event_id=uuid.uuid4(),
            departement="93",
            permit_type="TEMPORARY_RESIDENCE_L425_1",
            person_ref="P-93-9",
            now=datetime.now(UTC),
            first_name="Amina",
            last_name="Diallo",
        )
    argv = ["--as", "receipt", "--db", str(db), "--agency", "prefecture-93"]
    answered = invoke(hub_settings, "prefecture", "answer", str(request_id)[:8], *argv)
    assert answered.exit_code == 0, answered.output
    assert str(request_id) in answered.stdout
    with WorkQueue(db) as queue:
        item = queue.get(request_id)
        assert item is not None
        assert item.state == "receipt"
