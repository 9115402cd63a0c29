"""The audit trail on the real broker: index, replay, verify, tampering, erasure, CLI.

Chained entries of several cases are written to ``nrm.audit`` as the routing worker writes
them (keyed by case, Confluent-framed); everything is then read back through the index and
the ``hub`` commands. Tampering is done on copies of the log written to other topics, as an
attacker with write access to the storage would (headers included: the hub's signatures travel
with the copy). Forgeries appended to ``nrm.audit`` itself: tests/integration/test_audit_forgery.py.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
import typer
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner, Result

from agents.audit_commands import BAD_INPUT, CHECK_FAILED, register_audit_commands
from agents.audit_index.indexer import catch_up
from agents.audit_index.reading import fetch_case
from agents.audit_index.store import AuditIndex, index_path
from agents.io.audit_fetch import read_offsets
from agents.io.outbox_writer import append_entries
from hub.audit.chain import ChainHead, next_entry
from hub.audit.keys import default_key_store
from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole, AuditAction
from hub.contracts.hub_records import (
    AuditEntry,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import AUDIT, TopicSpec
from hub.runtime.kafka_options import client_options
from hub.runtime.logs import configure_logging
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CONSENT = "consent:8d2f8f9e-5c1b-4a43-9d1e-3f3c1b2a0c11"
CHILD_PROTECTION = "legal-exception:child-protection (CASF L226-2-1)"
IDENTITY = {"first_name": "Amina", "last_name": "K."}
HEALTH = {"health_needs": "insulin-dependent diabetes"}
STATUS = {"immigration_status": "IRREGULAR"}

# One referral: (actor, role, action, decision, reason, legal basis, recipient, payload)
REFERRAL: list[tuple[Any, ...]] = [
    ("police-93", AgencyRole.POLICE_GENDARMERIE, AuditAction.RECEIVED, None, None, None, None,
     {"identity": IDENTITY, "health": HEALTH, "immigration_status": STATUS}),
    ("association-93", AgencyRole.SUPPORT_ASSOCIATION, AuditAction.CONSENT_RECORDED, None, None,
     CONSENT, None, None),
    ("hub", AgencyRole.HUB, AuditAction.ROUTED, "route", None, CONSENT, "prefecture-93",
     {"identity": IDENTITY, "immigration_status": STATUS}),
    ("hub", AgencyRole.HUB, AuditAction.HELD, "hold", "MISSING_CONSENT:health", None,
     "accommodation-93", None),
    ("hub", AgencyRole.HUB, AuditAction.RELEASED, "route", None, CHILD_PROTECTION,
     "accommodation-93", {"identity": IDENTITY, "health": HEALTH}),
    ("hub", AgencyRole.HUB, AuditAction.DELIVERED, "delivered", None, CONSENT, "prefecture-93",
     {"identity": IDENTITY, "immigration_status": STATUS}),
    ("prefecture-93", AgencyRole.PREFECTURE, AuditAction.ACKNOWLEDGED, "ACCEPTED", None, None,
     None, None),
]  # fmt: skip

runner = CliRunner()
cli = typer.Typer()
register_audit_commands(cli)


@dataclass
class Trail:
    settings: HubSettings
    codec: Codec
    entries: dict[UUID, list[AuditEntry]]
    referral: UUID
    others: list[UUID]
    erasable: UUID
    resumable: UUID


def chain(trail_settings: HubSettings, case_id: UUID, steps: list[tuple[Any, ...]]) -> list[Any]:
    store = default_key_store(trail_settings.data_dir)
    head: ChainHead | None = None
    entries = []
    for seq, (actor, role, action, decision, reason, basis, recipient, payload) in enumerate(steps):
        entry, head = next_entry(
            head,
            case_id=case_id,
            recorded_at=T0 + timedelta(minutes=5 * seq),
            actor=actor,
            actor_role=role,
            event_id=uuid.uuid4(),
            action=action,
            decision=decision,
            reason=reason,
            legal_basis=basis,
            recipient=recipient,
            payload=payload,
            key_store=store,
        )
        entries.append(entry)
    return entries


def interleaved(chains: list[list[AuditEntry]]) -> list[AuditEntry]:
    log: list[AuditEntry] = []
    for index in range(max(map(len, chains))):
        log.extend(c[index] for c in chains if index < len(c))
    return log


@pytest.fixture(scope="module")
def trail(
    settings: HubSettings, registry: SchemaRegistry, tmp_path_factory: pytest.TempPathFactory
) -> Trail:
    """Five cases' chains on ``nrm.audit``, written in two rounds, keys in a temp data dir."""
    configure_logging()  # logs to stderr, as the hub CLI does: stdout stays pure JSON
    trail_settings = settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("audit")})
    codec = Codec(registry)
    referral, erasable, resumable = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    others = [uuid.uuid4(), uuid.uuid4()]
    entries = {
        referral: chain(trail_settings, referral, REFERRAL),
        others[0]: chain(trail_settings, others[0], REFERRAL[:5]),
        others[1]: chain(trail_settings, others[1], REFERRAL[:4]),
        erasable: chain(trail_settings, erasable, REFERRAL[:3]),
        resumable: chain(trail_settings, resumable, REFERRAL[:2]),
    }
    log = interleaved(list(entries.values()))

    async def write() -> None:
        await create_topics(trail_settings, [AUDIT])
        await append_entries(trail_settings, codec, log[:9])
        await append_entries(trail_settings, codec, log[9:])

    asyncio.run(write())
    return Trail(trail_settings, codec, entries, referral, others, erasable, resumable)


def invoke(trail: Trail, *args: str) -> Result:
    return runner.invoke(cli, list(args), obj=trail.settings, env={"COLUMNS": "250"})


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ------------------------------------------------------------------------- replay


def test_replay_shows_every_step_of_a_referral_in_order(trail: Trail) -> None:
    document = as_json(invoke(trail, "replay", str(trail.referral), "--json"))
    steps = document["entries"]
    assert [s["seq"] for s in steps] == list(range(len(REFERRAL)))
    assert [(s["actor"], s["action"], s["decision"]) for s in steps] == [
        (step[0], step[2].value, step[3]) for step in REFERRAL
    ]
    assert steps[0]["payload"]["health"] == HEALTH
    assert steps[2]["recipient"] == "prefecture-93"
    assert document["verification"]["ok"] is True


def test_replay_as_prefecture_hides_health_data(trail: Trail) -> None:
    document = as_json(invoke(trail, "replay", str(trail.referral), "--as", "prefecture", "--json"))
    assert document["as"] == "PREFECTURE"
    for step in document["entries"]:
        assert "health" not in step["categories"]
        assert "health" not in (step["payload"] or {})
    assert document["entries"][0]["payload"]["identity"] == IDENTITY

    table = invoke(trail, "replay", str(trail.referral), "--as", "prefecture")
    assert table.exit_code == 0, table.output
    assert "Amina" in table.stdout
    assert "diabetes" not in table.stdout
    assert "OK" in table.stdout


def test_the_full_replay_table_shows_health_data(trail: Trail) -> None:
    table = invoke(trail, "replay", str(trail.referral))
    assert table.exit_code == 0, table.output
    assert "diabetes" in table.stdout


# ------------------------------------------------------------------------- the index


def test_fetch_case_reads_exactly_the_case_entries_in_order(trail: Trail) -> None:
    async def fetch() -> list[AuditEntry]:
        with AuditIndex.open(trail.settings) as index:
            await catch_up(trail.settings, index, trail.codec, timeout_s=20)
            return await fetch_case(trail.settings, index, trail.others[0], codec=trail.codec)

    assert asyncio.run(fetch()) == trail.entries[trail.others[0]]


def test_the_index_resumes_where_it_stopped(trail: Trail) -> None:
    case_id = trail.resumable
    first = trail.entries[case_id]

    async def scenario() -> tuple[int, int, int]:
        with AuditIndex.open(trail.settings) as index:
            await catch_up(trail.settings, index, trail.codec, timeout_s=20)
            known = len(index.positions(case_id))
        with AuditIndex.open(trail.settings) as reopened:  # a restarted indexer
            again = await catch_up(trail.settings, reopened, trail.codec, timeout_s=20)
            entry, _ = next_entry(
                ChainHead.of(first[-1]),
                case_id=case_id,
                recorded_at=T0 + timedelta(hours=1),
                actor="hub",
                actor_role=AgencyRole.HUB,
                event_id=uuid.uuid4(),
                action=AuditAction.ESCALATED,
                key_store=default_key_store(trail.settings.data_dir),
            )
            await append_entries(trail.settings, trail.codec, [entry])
            await catch_up(trail.settings, reopened, trail.codec, timeout_s=20)
            return known, again.indexed, len(reopened.positions(case_id))

    known, reindexed, after = asyncio.run(scenario())
    assert known == len(first)
    assert reindexed == 0  # nothing indexed twice, no rescan
    assert after == known + 1
    assert index_path(trail.settings).is_file()


# ------------------------------------------------------------------------- verification


def test_verify_one_case_passes_on_an_untouched_log(trail: Trail) -> None:
    result = invoke(trail, "audit", "verify", str(trail.referral))
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout


async def copy_log(
    trail: Trail, cases: list[UUID], tamper: Any = None
) -> tuple[str, dict[tuple[UUID, int | None], tuple[int, int]]]:
    """Copy the cases' stored records, in log order, to a new topic (tampered by ``tamper``).

    Returns the topic and where each (case, seq) landed in it.
    """
    with AuditIndex.open(trail.settings) as index:
        await catch_up(trail.settings, index, trail.codec, timeout_s=20)
        positions = sorted(
            (p.partition, p.offset, case_id, p.seq)
            for case_id in cases
            for p in index.positions(case_id)
        )
    wanted: dict[int, list[int]] = {}
    for partition, offset, _case, _seq in positions:
        wanted.setdefault(partition, []).append(offset)
    stored = await read_offsets(trail.settings, AUDIT.name, wanted)
    records = [(case, seq, *stored[(p, o)]) for p, o, case, seq in positions]  # + headers
    if tamper is not None:
        records = tamper(records)
    topic = f"test.audit.copy.{uuid.uuid4().hex[:8]}"
    await create_topics(trail.settings, [TopicSpec(name=topic, purpose="tampered copy")])
    producer = AIOKafkaProducer(**client_options(trail.settings))
    await producer.start()
    landed: dict[tuple[UUID, int | None], tuple[int, int]] = {}
    try:
        for case, seq, key, value, headers in records:
            sent = await producer.send_and_wait(topic, value, key=key, headers=list(headers))
            landed[(case, seq)] = (sent.partition, sent.offset)
    finally:
        await producer.stop()
    return topic, landed


def test_an_untouched_copy_of_the_log_verifies_clean(trail: Trail) -> None:
    topic, landed = asyncio.run(copy_log(trail, [trail.referral, *trail.others]))
    result = invoke(trail, "audit", "verify", "--all", "--topic", topic)
    assert result.exit_code == 0, result.output
    assert (
        f"{len(landed)} signée(s) par le hub, 0 doublon(s) sans conséquence : OK" in result.stdout
    )


def test_a_flipped_byte_a_deleted_entry_and_a_swap_are_each_named(trail: Trail) -> None:
    flipped_case, deleted_case, swapped_case = trail.referral, *trail.others
    ciphertext = trail.entries[flipped_case][3 - 1].payload_ciphertext or b""

    def tamper(records: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        out = []
        for case, seq, key, value, headers in records:
            if (case, seq) == (flipped_case, 2):  # one byte of the stored ciphertext
                at = value.index(ciphertext) + 7
                value = value[:at] + bytes([value[at] ^ 0x20]) + value[at + 1 :]
            if (case, seq) == (deleted_case, 2):
                continue
            out.append((case, seq, key, value, headers))
        first = next(i for i, r in enumerate(out) if r[:2] == (swapped_case, 1))
        second = next(i for i, r in enumerate(out) if r[:2] == (swapped_case, 2))
        out[first], out[second] = out[second], out[first]
        return out

    topic, landed = asyncio.run(copy_log(trail, [flipped_case, *trail.others], tamper))
    result = invoke(trail, "audit", "verify", "--all", "--topic", topic, "--json")
    assert result.exit_code == CHECK_FAILED, result.output
    problems = {
        (p["kind"], p["case_id"], p["seq"], p["partition"], p["offset"])
        for p in json.loads(result.stdout)["problems"]
    }
    assert ("BREAK", str(flipped_case), 2, *landed[(flipped_case, 2)]) in problems
    assert ("GAP", str(deleted_case), 2, *landed[(deleted_case, 3)]) in problems
    reorders = {(seq, (part, off)) for kind, case, seq, part, off in problems if kind == "REORDER"}
    assert reorders & {(1, landed[(swapped_case, 1)]), (2, landed[(swapped_case, 2)])}
    assert {kind for kind, *_ in problems} == {"BREAK", "GAP", "REORDER"}

    text = invoke(trail, "audit", "verify", "--all", "--topic", topic)
    assert text.exit_code == CHECK_FAILED
    partition, offset = landed[(flipped_case, 2)]
    assert f"BREAK : dossier {flipped_case} entrée 2 (partition {partition} offset {offset})" in (
        text.stderr
    )
    kinds_and_cases = ["BREAK", "GAP", "REORDER", *map(str, (flipped_case, *trail.others))]
    assert _english_left(text.stderr, kinds_and_cases) == [], text.stderr


# ------------------------------------------------------------------------- subject report


def test_subject_report_lists_recipients_categories_and_basis(trail: Trail) -> None:
    report = as_json(invoke(trail, "subject-report", str(trail.referral), "--json"))
    recipients = {r["recipient"]: r for r in report["recipients"]}
    assert recipients["prefecture-93"]["categories"] == ["identity", "immigration_status"]
    assert recipients["prefecture-93"]["bases"] == [CONSENT]
    assert recipients["accommodation-93"]["categories"] == ["identity", "health"]
    kinds = {(d["recipient"], d["basis_kind"]) for d in report["disclosures"]}
    assert kinds == {("prefecture-93", "CONSENT"), ("accommodation-93", "LEGAL_EXCEPTION")}

    table = invoke(trail, "subject-report", str(trail.referral))
    assert table.exit_code == 0, table.output
    assert "prefecture-93" in table.stdout


# ------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "not-a-uuid"], "n'est pas un identifiant de dossier"),
        (["replay", "00000000-0000-4000-8000-000000000000"], "dossier inconnu"),
        (["subject-report", "00000000-0000-4000-8000-000000000000"], "dossier inconnu"),
        (["audit", "verify"], "soit un identifiant de dossier, soit --all"),
        (
            ["audit", "verify", "00000000-0000-4000-8000-000000000000", "--all"],
            "soit un identifiant de dossier",
        ),
    ],
)
def test_bad_input_is_a_clear_message_and_exit_2(
    trail: Trail, args: list[str], message: str
) -> None:
    result = invoke(trail, *args)
    assert result.exit_code == BAD_INPUT, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_a_unique_prefix_replays_the_case(trail: Trail) -> None:
    result = invoke(trail, "replay", str(trail.referral)[:8], "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["case_id"] == str(trail.referral)


def test_an_unknown_role_is_bad_input(trail: Trail) -> None:
    result = invoke(trail, "replay", str(trail.referral), "--as", "wizard")
    assert result.exit_code == BAD_INPUT
    assert "rôle inconnu 'wizard'" in result.stderr


# ------------------------------------------------------------------------- French for operators

ENGLISH = re.compile(
    r"\b(case|entries|entry|recorded|actor|reason|legal basis|recipients?|categories|"
    r"personal data|verified|signed by|benign|duplicates?|problems?|left out|when|notices?|"
    r"shared|per|first|last|times|bases|erased|none|error|unknown|warning|the|of|on|is|as)\b",
    re.IGNORECASE,
)


def _machine_values(document: Any) -> set[str]:
    """Every string the JSON twin of a screen carries (ids, actions, roles, decisions, payload
    values and keys): those stay as stored, so scripts and the screen agree."""
    if isinstance(document, dict):
        return {str(k) for k in document} | set().union(
            *(_machine_values(v) for v in document.values())
        )
    if isinstance(document, list):
        return set().union(*(_machine_values(v) for v in document))
    return {document} if isinstance(document, str) else set()


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\S+ \[\w+\s*\] ", re.MULTILINE)


def _english_left(screen: str, document: Any) -> list[str]:
    """English words an operator would read: logs (English by rule) and machine values aside."""
    screen = "\n".join(line for line in screen.splitlines() if not LOG_LINE.match(line))
    for value in sorted(_machine_values(document), key=len, reverse=True):
        screen = screen.replace(value, " ")
    return sorted({m.group(0) for m in ENGLISH.finditer(screen)})


def test_replay_verify_and_subject_report_speak_french_to_operators(trail: Trail) -> None:
    case = str(trail.referral)
    screens = [
        (["replay", case], ["replay", case, "--json"]),
        (["replay", case, "--as", "prefecture"], ["replay", case, "--as", "prefecture", "--json"]),
        (["subject-report", case], ["subject-report", case, "--json"]),
        (["audit", "verify", case], ["audit", "verify", case, "--json"]),
    ]
    for text_args, json_args in screens:
        shown, twin = invoke(trail, *text_args), invoke(trail, *json_args)
        assert shown.exit_code == 0, shown.output
        screen = shown.stdout + shown.stderr
        assert screen.strip(), text_args
        assert _english_left(screen, as_json(twin)) == [], (text_args, screen)
    for args in (
        ["replay", "00000000-0000-4000-8000-000000000000"],
        ["replay", case, "--as", "wizard"],
        ["audit", "verify"],
        ["audit", "verify", case, "--topic", "nrm.audit"],
    ):
        refused = invoke(trail, *args)
        assert refused.exit_code == BAD_INPUT, refused.output
        assert _english_left(refused.stderr, args) == [], (args, refused.stderr)


def test_the_english_detector_can_fail() -> None:
    old_verdict = "verified 7 record(s) of 1 case(s), 7 signed by the hub, 0 benign duplicate(s)"
    assert _english_left(old_verdict, {"case_id": "x"}) != []
    assert _english_left("Dossier x : 3 entrée(s), ROUTED route", ["ROUTED", "route"]) == []
