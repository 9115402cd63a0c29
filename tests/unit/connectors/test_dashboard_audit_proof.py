"""The dashboard believes only audit entries the hub signed: forged entries neither show on a
case page (tests/integration/test_audit_trail.py) nor move an agency's answer times."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import TopicPartition

from connectors.dashboard.read_model import ReadModel
from hub.audit.chain import ChainHead, next_entry
from hub.audit.keys import MemoryKeyStore
from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole, AuditAction
from hub.contracts.hub_records import (
    AuditEntry,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import AUDIT
from hub.rules.answer_times import ANSWER_PREFIX, DEADLINE_OPENED
from hub.rules.directory import Directory
from hub.runtime.settings import HubSettings
from hub.trust.agency_keys import dev_key_path
from hub.trust.signing import HubSigner

SETTINGS = HubSettings()
CODEC = Codec(SchemaRegistry.load(SETTINGS.schemas_dir))
HUB = HubSigner.from_pem(dev_key_path(SETTINGS.config_dir, "hub"))
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def answered_request(case_id: uuid.UUID, delay: timedelta) -> list[AuditEntry]:
    """A request to association-93 opened at T0 and answered after ``delay``."""
    store = MemoryKeyStore()
    head: ChainHead | None = None
    answer = uuid.uuid4()
    steps: list[tuple[str, AgencyRole, AuditAction, str | None, str | None, datetime]] = [
        ("hub", AgencyRole.HUB, AuditAction.ROUTED, DEADLINE_OPENED, "association-93", T0),
        ("association-93", AgencyRole.SUPPORT_ASSOCIATION, AuditAction.RECEIVED, None, None,
         T0 + delay),
        ("hub", AgencyRole.HUB, AuditAction.ACKNOWLEDGED, f"{ANSWER_PREFIX}ACCEPTED", None,
         T0 + delay),
    ]  # fmt: skip
    entries = []
    for actor, role, action, decision, recipient, at in steps:
        entry, head = next_entry(
            head,
            case_id=case_id,
            recorded_at=at,
            actor=actor,
            actor_role=role,
            event_id=answer if action is not AuditAction.ROUTED else uuid.uuid4(),
            action=action,
            decision=decision,
            recipient=recipient,
            key_store=store,
        )
        entries.append(entry)
    return entries


def test_unsigned_audit_entries_do_not_move_answer_times(tmp_path: Path) -> None:
    model = ReadModel(SETTINGS, CODEC, Directory.load(SETTINGS.config_dir), index_dir=tmp_path)
    tp = TopicPartition(AUDIT.name, 0)
    offset = 0
    for entries, signed in [
        (answered_request(uuid.uuid4(), timedelta(hours=1)), True),
        (answered_request(uuid.uuid4(), timedelta(days=40)), False),  # a forged slow answer
    ]:
        for entry in entries:
            key, value = str(entry.case_id).encode(), CODEC.encode_event(entry)
            headers = HUB.sign(AUDIT.name, key, value) if signed else []
            model._apply(tp, value, offset, key, headers)
            offset += 1
    summary = model.ack_times.summary("association-93")
    assert (summary.answered, summary.median_s) == (1, 3600.0)
    assert model.audit_unproven == 3
