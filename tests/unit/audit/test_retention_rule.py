"""Which closed cases ``hub retention run`` shreds, as a table of chains and instants."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from hub.audit.chain import ChainHead, next_entry
from hub.audit.keys import MemoryKeyStore
from hub.audit.retention import closes, due_for_shredding, keys_to_finish, lives
from hub.contracts.enums import AgencyRole, AuditAction, DataCategory
from hub.contracts.hub_records import (
    AuditEntry,
)

T0 = datetime(2024, 1, 15, 9, tzinfo=UTC)
PERIOD = timedelta(days=730)
DAY = timedelta(days=1)
Step = tuple[AuditAction, str, timedelta]

RECEIVED: Step = (AuditAction.RECEIVED, "accepted", timedelta(0))
CLOSED: Step = (AuditAction.CASE_TRANSITION, "case closed", DAY)
MOVED_CLOSED: Step = (AuditAction.CASE_TRANSITION, "SUPPORT_PATHWAY → CLOSED", DAY)
REOPENED: Step = (AuditAction.CASE_TRANSITION, "CLOSED → SUPPORT_PATHWAY", 10 * DAY)
IDENTIFIED: Step = (AuditAction.CASE_TRANSITION, "UNDER_IDENTIFICATION → IDENTIFIED", DAY)
ERASED: Step = (AuditAction.ERASED, "erase", 2 * DAY)
LATE_ACK: Step = (AuditAction.ACKNOWLEDGED, "late answer", 30 * DAY)


def chain(case_id: uuid.UUID, steps: Sequence[Step]) -> list[AuditEntry]:
    keys, head, entries = MemoryKeyStore(), None, []
    for action, decision, at in steps:
        entry, head = next_entry(
            head,
            case_id=case_id,
            recorded_at=T0 + at,
            actor="hub",
            actor_role=AgencyRole.HUB,
            event_id=None,
            action=action,
            decision=decision,
            categories={DataCategory.IDENTITY},
            key_store=keys,
        )
        entries.append(entry)
    return entries


@pytest.mark.parametrize(
    ("name", "steps", "now", "due"),
    [
        ("closed two years ago", [RECEIVED, CLOSED], T0 + DAY + PERIOD, True),
        ("closed by a lifecycle move", [RECEIVED, MOVED_CLOSED], T0 + DAY + PERIOD, True),
        ("one day short", [RECEIVED, CLOSED], T0 + PERIOD, False),
        ("never closed", [RECEIVED, IDENTIFIED], T0 + 10 * PERIOD, False),
        ("reopened after closure", [RECEIVED, CLOSED, REOPENED], T0 + 10 * PERIOD, False),
        ("erased already", [RECEIVED, CLOSED, ERASED], T0 + 10 * PERIOD, False),
        ("both closure entries of one event", [CLOSED, MOVED_CLOSED], T0 + DAY + PERIOD, True),
        ("later entries do not restart the clock", [CLOSED, LATE_ACK], T0 + DAY + PERIOD, True),
        ("no entry at all", [], T0 + 10 * PERIOD, False),
    ],
)
def test_a_case_is_due_when_closed_for_the_whole_period(
    name: str, steps: list[Step], now: datetime, due: bool
) -> None:
    case_id = uuid.uuid4()
    entries = chain(case_id, steps)
    found = due_for_shredding(lives(entries), now, PERIOD)
    assert [d.case_id for d in found] == ([case_id] if due else [])


def test_a_due_case_carries_its_chain_head_and_categories() -> None:
    case_id = uuid.uuid4()
    entries = chain(case_id, [RECEIVED, CLOSED, LATE_ACK])
    [due] = due_for_shredding(lives(entries), T0 + 3 * PERIOD, PERIOD)
    assert due.head == ChainHead.of(entries[-1])
    assert due.closed_at == T0 + DAY
    assert due.categories == {DataCategory.IDENTITY}


def test_cases_are_told_apart_and_oldest_closure_comes_first() -> None:
    old, recent, open_case = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    entries = [
        *chain(recent, [RECEIVED, (AuditAction.CASE_TRANSITION, "case closed", 5 * DAY)]),
        *chain(open_case, [RECEIVED]),
        *chain(old, [RECEIVED, CLOSED]),
    ]
    found = due_for_shredding(lives(entries), T0 + 6 * DAY + PERIOD, PERIOD)
    assert [d.case_id for d in found] == [old, recent]


def test_an_altered_entry_is_not_taken_as_the_head() -> None:
    case_id = uuid.uuid4()
    entries = chain(case_id, [RECEIVED, CLOSED])
    forged = entries[-1].model_copy(update={"seq": 9})
    [due] = due_for_shredding(lives([*entries, forged]), T0 + 3 * PERIOD, PERIOD)
    assert due.head == ChainHead.of(entries[-1])


@pytest.mark.parametrize(
    ("decision", "closing"),
    [
        ("case closed", True),
        ("SUPPORT_PATHWAY → CLOSED", True),
        ("CLOSED → SUPPORT_PATHWAY", False),
        ("NEW → UNDER_IDENTIFICATION", False),
        (None, False),
    ],
)
def test_which_transitions_close_a_case(decision: str | None, closing: bool) -> None:
    assert closes(decision) is closing


def test_a_due_case_names_the_key_of_its_latest_payload() -> None:
    case_id, keys = uuid.uuid4(), MemoryKeyStore()
    received, head = next_entry(
        None,
        case_id=case_id,
        recorded_at=T0,
        actor="police-93",
        actor_role=AgencyRole.POLICE_GENDARMERIE,
        event_id=uuid.uuid4(),
        action=AuditAction.RECEIVED,
        payload={"identity": {"first_name": "Amina"}},
        key_store=keys,
    )
    closed, _ = next_entry(
        head,
        case_id=case_id,
        recorded_at=T0 + DAY,
        actor="hub",
        actor_role=AgencyRole.HUB,
        event_id=None,
        action=AuditAction.CASE_TRANSITION,
        decision="case closed",
        key_store=keys,
    )
    [due] = due_for_shredding(lives([received, closed]), T0 + 3 * PERIOD, PERIOD)
    assert due.key_id == received.key_id == keys.get_or_create(case_id)[0]


def test_a_shredded_case_that_names_a_key_is_one_to_finish() -> None:
    # The run writes the ERASED entry, then destroys the key: if it stopped in between, the
    # next run must find the case (and destroy the key if it still exists).
    keys = MemoryKeyStore()
    case_id = uuid.uuid4()
    received, head = next_entry(
        None,
        case_id=case_id,
        recorded_at=T0,
        actor="police-93",
        actor_role=AgencyRole.POLICE_GENDARMERIE,
        event_id=uuid.uuid4(),
        action=AuditAction.RECEIVED,
        payload={"identity": {"first_name": "Amina"}},
        key_store=keys,
    )
    expired, _ = next_entry(
        head,
        case_id=case_id,
        recorded_at=T0 + PERIOD,
        actor="hub",
        actor_role=AgencyRole.HUB,
        event_id=None,
        action=AuditAction.ERASED,
        decision="expired under the retention schedule",
        key_store=keys,
    )
    never_shredded = chain(uuid.uuid4(), [RECEIVED, CLOSED])
    cases = lives([received, expired, *never_shredded])
    assert [life.case_id for life in keys_to_finish(cases)] == [case_id]
    assert keys_to_finish(cases)[0].key_id == received.key_id
    assert due_for_shredding(cases, T0 + 10 * PERIOD, PERIOD)[0].case_id != case_id
