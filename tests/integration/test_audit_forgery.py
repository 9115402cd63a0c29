"""Forged audit entries on the real broker: a valid chain hash is not enough.

The attack of issue 21: anyone who can reach the broker appends to ``nrm.audit`` an entry
chained to a case's real head with a correctly computed hash — unsigned, signed with an
agency's key, or with a stranger's key under the hub's key id — claiming that identity data
was delivered to an agency that never received anything. ``hub audit verify`` must fail and
name it (case, seq, partition, offset); ``hub subject-report``, ``hub replay`` and the
dashboard's case page must not show it as something that happened.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
import typer
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner, Result

from agents.audit_commands import BAD_INPUT, CHECK_FAILED, register_audit_commands
from agents.io.outbox_writer import append_entries
from connectors.dashboard.case_view import operator_categories, replay_case
from hub.audit.chain import ChainHead, next_entry
from hub.audit.keys import default_key_store
from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole, AuditAction
from hub.contracts.hub_records import (
    AuditEntry,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import AUDIT
from hub.rules.directory import Directory
from hub.runtime.kafka_options import client_options
from hub.runtime.logs import configure_logging
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics
from hub.trust.agency_keys import dev_key_path, load_private_key
from hub.trust.signing import RecordSigner

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CONSENT = "consent:8d2f8f9e-5c1b-4a43-9d1e-3f3c1b2a0c11"
IDENTITY = {"first_name": "Amina", "last_name": "K."}
STRANGER = RecordSigner(Ed25519PrivateKey.generate(), "hub-2026-1")  # claims the hub's key id

runner = CliRunner()
cli = typer.Typer()
register_audit_commands(cli)


@dataclass
class Log:
    settings: HubSettings
    codec: Codec


@pytest.fixture(scope="module")
def log(
    settings: HubSettings, registry: SchemaRegistry, tmp_path_factory: pytest.TempPathFactory
) -> Log:
    configure_logging()  # logs to stderr, as the hub CLI does: stdout stays pure JSON
    forged_settings = settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("forged")})
    asyncio.run(create_topics(forged_settings, [AUDIT]))
    return Log(forged_settings, Codec(registry))


def invoke(log: Log, *args: str, settings: HubSettings | None = None) -> Result:
    return runner.invoke(cli, list(args), obj=settings or log.settings, env={"COLUMNS": "250"})


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def entry_after(log: Log, head: ChainHead | None, case_id: UUID, seq: int, **fields: Any) -> Any:
    return next_entry(
        head,
        case_id=case_id,
        recorded_at=T0 + timedelta(minutes=5 * seq),
        actor="hub",
        actor_role=AgencyRole.HUB,
        event_id=uuid.uuid4(),
        key_store=default_key_store(log.settings.data_dir),
        **fields,
    )


def forger(log: Log, who: str) -> RecordSigner | None:
    if who == "agency":
        police = load_private_key(dev_key_path(log.settings.config_dir, "police-93"))
        return RecordSigner(police, "police-93-2026-1")
    return STRANGER if who == "stranger" else None


async def append_forgery(log: Log, who: str) -> tuple[UUID, AuditEntry, tuple[int, int]]:
    """A new case of three genuine, hub-signed entries (received, consent, routed to
    prefecture-93), then the forgery: identity data "delivered" to prefecture-75, which never
    received anything, with a correctly computed hash chained to the real head, written
    straight to ``nrm.audit`` as anyone reaching the broker could."""
    case_id = uuid.uuid4()
    head: ChainHead | None = None
    genuine = []
    for seq, (action, recipient, payload) in enumerate(
        [
            (AuditAction.RECEIVED, None, {"identity": IDENTITY}),
            (AuditAction.CONSENT_RECORDED, None, None),
            (AuditAction.ROUTED, "prefecture-93", {"identity": IDENTITY}),
        ]
    ):
        entry, head = entry_after(
            log,
            head,
            case_id,
            seq,
            action=action,
            legal_basis=CONSENT,
            recipient=recipient,
            payload=payload,
        )
        genuine.append(entry)
    await append_entries(log.settings, log.codec, genuine)  # signed by the hub's key
    forged, _ = entry_after(
        log,
        head,
        case_id,
        3,
        action=AuditAction.DELIVERED,
        decision="delivered",
        legal_basis=CONSENT,
        recipient="prefecture-75",
        payload={"identity": IDENTITY},
    )
    key, value = str(case_id).encode(), log.codec.encode_event(forged)
    signer = forger(log, who)
    headers = signer.sign(AUDIT.name, key, value) if signer else []
    producer = AIOKafkaProducer(**client_options(log.settings))
    await producer.start()
    try:
        sent = await producer.send_and_wait(AUDIT.name, value, key=key, headers=headers)
    finally:
        await producer.stop()
    return case_id, forged, (sent.partition, sent.offset)


@pytest.mark.parametrize("who", ["unsigned", "agency", "stranger"])
def test_a_forged_entry_with_a_valid_hash_fails_verify_and_is_no_disclosure(
    log: Log, who: str
) -> None:
    case_id, forged, (partition, offset) = asyncio.run(append_forgery(log, who))
    assert forged.seq == 3

    checked = invoke(log, "audit", "verify", str(case_id), "--json")
    assert checked.exit_code == CHECK_FAILED, checked.output
    problems = [
        (p["kind"], p["case_id"], p["seq"], p["partition"], p["offset"])
        for p in json.loads(checked.stdout)["problems"]
    ]
    assert problems == [("UNPROVEN", str(case_id), 3, partition, offset)]
    text = invoke(log, "audit", "verify", str(case_id))
    assert text.exit_code == CHECK_FAILED
    assert f"UNPROVEN : dossier {case_id} entrée 3 (partition {partition} offset {offset})" in (
        text.stderr
    )

    report = as_json(invoke(log, "subject-report", str(case_id), "--json"))
    assert {d["recipient"] for d in report["disclosures"]} == {"prefecture-93"}
    assert {r["recipient"] for r in report["recipients"]} == {"prefecture-93"}
    assert [o["seq"] for o in report["left_out"]] == [3]
    table = invoke(log, "subject-report", str(case_id))
    assert table.exit_code == 0, table.output
    assert "prefecture-75" not in table.stdout
    assert f"écartée : dossier {case_id} entrée 3" in table.stdout

    replayed = as_json(invoke(log, "replay", str(case_id), "--json"))
    assert [e["seq"] for e in replayed["entries"]] == [0, 1, 2]
    assert replayed["verification"]["ok"] is False
    shown = invoke(log, "replay", str(case_id))
    assert shown.exit_code == 0, shown.output
    assert "prefecture-75" not in shown.stdout
    assert f"écartée : dossier {case_id} entrée 3" in shown.stdout


def test_the_whole_log_check_names_the_forgery_too(log: Log) -> None:
    case_id, _forged, (partition, offset) = asyncio.run(append_forgery(log, "stranger"))
    checked = invoke(log, "audit", "verify", "--all", "--json")
    assert checked.exit_code == CHECK_FAILED, checked.output
    problems = json.loads(checked.stdout)["problems"]  # other modules' cases may be there too
    assert ("UNPROVEN", str(case_id), 3, partition, offset) in {
        (p["kind"], p["case_id"], p["seq"], p["partition"], p["offset"]) for p in problems
    }


def test_the_hub_writes_on_after_a_forgery_without_a_fork(log: Log) -> None:
    case_id, forged, (_partition, offset) = asyncio.run(append_forgery(log, "unsigned"))
    # The hub's single writer chains its own seq 3 after the head it knows (the genuine seq 2).
    head = ChainHead(case_id=case_id, seq=2, hash=forged.prev_hash)
    own, _ = entry_after(log, head, case_id, 3, action=AuditAction.ESCALATED, decision="reminder")
    asyncio.run(append_entries(log.settings, log.codec, [own]))

    checked = invoke(log, "audit", "verify", str(case_id), "--json")
    problems = [(p["kind"], p["seq"], p["offset"]) for p in json.loads(checked.stdout)["problems"]]
    assert problems == [("UNPROVEN", 3, offset)]
    steps = as_json(invoke(log, "replay", str(case_id), "--json"))["entries"]
    assert [(s["seq"], s["action"]) for s in steps][-1] == (3, "ESCALATED")


def test_the_dashboard_case_page_flags_the_forgery_and_leaves_it_out(log: Log) -> None:
    case_id, _forged, _ = asyncio.run(append_forgery(log, "unsigned"))
    replay = asyncio.run(
        replay_case(
            log.settings,
            log.settings.data_dir / "dashboard-index.sqlite",
            log.codec,
            default_key_store(log.settings.data_dir),
            operator_categories(log.settings.config_dir),
            Directory.load(log.settings.config_dir),
            case_id,
        )
    )
    assert replay.verified is False
    assert [item.seq for item in replay.items] == [0, 1, 2]
    assert replay.left_out == 1
    assert [p for p in replay.problems if p.startswith("Entrée non signée par le hub")]


def test_without_the_hub_public_key_nothing_is_verified(
    log: Log, tmp_path_factory: pytest.TempPathFactory
) -> None:
    case_id, _forged, _ = asyncio.run(append_forgery(log, "unsigned"))
    keyless = log.settings.model_copy(update={"config_dir": tmp_path_factory.mktemp("empty")})
    for command in (["replay", str(case_id)], ["subject-report", str(case_id)]):
        result = invoke(log, *command, settings=keyless)
        assert result.exit_code == BAD_INPUT, result.output
        assert "impossible de lire la clé publique du hub" in result.stderr
        assert "Traceback" not in result.output
    assert invoke(log, "audit", "verify", "--all", settings=keyless).exit_code == BAD_INPUT
