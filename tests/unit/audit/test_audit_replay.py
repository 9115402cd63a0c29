"""Replaying a case: its timeline, what each role may see of it, and the data-subject report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from rich.console import Console

from hub.audit.chain import ChainHead, next_entry
from hub.audit.keys import MemoryKeyStore
from hub.audit.replay import AuditVisibility, PayloadState, redact, timeline, timeline_json
from hub.audit.subject_report import (
    BasisKind,
    EntryKind,
    kind_of,
    subject_report,
    subject_report_json,
)
from hub.cli.render_audit import render_subject_report, render_timeline
from hub.contracts.enums import AgencyRole, AuditAction, DataCategory
from hub.contracts.hub_records import (
    AuditEntry,
)
from hub.rules.consent import ConsentPolicy
from hub.runtime.settings import PROJECT_ROOT

CASE = UUID("0b6c7a52-3f1d-4c55-9a8e-2d7f1e4b9c01")
CONSENT = UUID("8d2f8f9e-5c1b-4a43-9d1e-3f3c1b2a0c11")
CHILD_PROTECTION = "legal-exception:child-protection (CASF L226-2-1)"
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
VISIBILITY = AuditVisibility.from_policy(ConsentPolicy.load(PROJECT_ROOT / "deploy" / "config"))

IDENTITY = {"first_name": "Amina", "last_name": "K."}
HEALTH = {"health_needs": "insulin-dependent diabetes", "pregnant": True}
STATUS = {"immigration_status": "IRREGULAR", "nationalities": ["NG"]}
FACTS = {"narrative": "recruited with a false job offer"}

# (actor, role, action, decision, reason, legal basis, recipient, payload)
Step = tuple[str, AgencyRole, AuditAction, str | None, str | None, str | None, str | None, Any]
FLOW: list[Step] = [
    ("police-93", AgencyRole.POLICE_GENDARMERIE, AuditAction.RECEIVED, None, None, None, None,
     {"identity": IDENTITY, "health": HEALTH, "immigration_status": STATUS,
      "exploitation_details": FACTS}),
    ("association-93", AgencyRole.SUPPORT_ASSOCIATION, AuditAction.CONSENT_RECORDED, None, None,
     f"consent:{CONSENT}", None, None),
    ("nrm-hub", AgencyRole.HUB, AuditAction.ROUTED, "route", None, f"consent:{CONSENT}",
     "prefecture-93", {"identity": IDENTITY, "immigration_status": STATUS}),
    ("nrm-hub", AgencyRole.HUB, AuditAction.HELD, "hold", "MISSING_CONSENT:health", None,
     "accommodation-93", None),
    ("nrm-hub", AgencyRole.HUB, AuditAction.RELEASED, "route", None, CHILD_PROTECTION,
     "accommodation-93", {"identity": IDENTITY, "health": HEALTH}),
    ("nrm-hub", AgencyRole.HUB, AuditAction.DELIVERED, "delivered", None, f"consent:{CONSENT}",
     "prefecture-93", {"identity": IDENTITY, "immigration_status": STATUS}),
    ("prefecture-93", AgencyRole.PREFECTURE, AuditAction.ACKNOWLEDGED, "ACCEPTED", None, None,
     None, None),
]  # fmt: skip


def referral_flow(store: MemoryKeyStore) -> list[AuditEntry]:
    head: ChainHead | None = None
    entries = []
    for seq, (actor, role, action, decision, reason, basis, recipient, payload) in enumerate(FLOW):
        entry, head = next_entry(
            head,
            case_id=CASE,
            recorded_at=T0 + timedelta(minutes=5 * seq),
            actor=actor,
            actor_role=role,
            event_id=UUID(int=seq + 1),
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


@pytest.fixture
def store() -> MemoryKeyStore:
    return MemoryKeyStore()


@pytest.fixture
def entries(store: MemoryKeyStore) -> list[AuditEntry]:
    return referral_flow(store)


def health_anywhere(rows: list[Any]) -> bool:
    return any(
        DataCategory.HEALTH in row.categories or "health" in (row.payload or {}) for row in rows
    )


# ------------------------------------------------------------------------- timeline


def test_timeline_shows_every_step_in_order_with_actors_and_decisions(
    entries: list[AuditEntry], store: MemoryKeyStore
) -> None:
    shuffled = [entries[3], entries[0], entries[6], entries[1], entries[5], entries[2], entries[4]]
    rows = timeline([*shuffled, entries[2]], store)  # plus a redelivered copy
    assert [r.seq for r in rows] == list(range(7))
    assert [r.action for r in rows] == [step[2] for step in FLOW]
    assert [(r.actor, r.decision) for r in rows][2:4] == [("nrm-hub", "route"), ("nrm-hub", "hold")]
    assert rows[0].payload == {
        "identity": IDENTITY,
        "health": HEALTH,
        "immigration_status": STATUS,
        "exploitation_details": FACTS,
    }
    assert rows[1].payload_state is PayloadState.NONE


def test_the_full_view_shows_health_data(entries: list[AuditEntry], store: MemoryKeyStore) -> None:
    assert health_anywhere(timeline(entries, store))


def test_prefecture_never_sees_health_data(
    entries: list[AuditEntry], store: MemoryKeyStore
) -> None:
    rows = redact(timeline(entries, store), VISIBILITY.allowed(AgencyRole.PREFECTURE))
    assert not health_anywhere(rows)
    assert rows[0].payload == {"identity": IDENTITY, "immigration_status": STATUS}
    assert "recruited" not in json.dumps(timeline_json(rows))  # nor the narrative
    assert rows[4].categories == (DataCategory.IDENTITY,)
    assert "diabetes" not in json.dumps(timeline_json(rows))


@pytest.mark.parametrize("role", [AgencyRole.OBSERVATORY, AgencyRole.UNKNOWN, AgencyRole.HUB])
def test_roles_outside_the_policy_see_no_personal_data(
    entries: list[AuditEntry], store: MemoryKeyStore, role: AgencyRole
) -> None:
    rows = redact(timeline(entries, store), VISIBILITY.allowed(role))
    assert all(not row.payload and not row.categories for row in rows)
    assert [row.action for row in rows] == [step[2] for step in FLOW]  # the steps stay visible


def test_the_shipped_policy_lets_accommodation_see_health_but_not_immigration_status() -> None:
    allowed = VISIBILITY.allowed(AgencyRole.ACCOMMODATION_PROVIDER)
    assert DataCategory.HEALTH in allowed
    assert DataCategory.IMMIGRATION_STATUS not in allowed


def test_a_prefecture_sees_in_replay_only_what_the_consent_policy_lets_it_receive() -> None:
    assert VISIBILITY.allowed(AgencyRole.PREFECTURE) == {
        DataCategory.IDENTITY,
        DataCategory.IMMIGRATION_STATUS,
    }
    assert VISIBILITY.allowed(AgencyRole.UNION) == frozenset()
    assert DataCategory.HEALTH in VISIBILITY.allowed(AgencyRole.NATIONAL_COORDINATION)


def test_erased_payloads_are_marked_in_json_and_in_the_table(
    entries: list[AuditEntry], store: MemoryKeyStore
) -> None:
    store.destroy(CASE)
    rows = timeline(entries, store)
    document = timeline_json(rows)
    assert document[0]["payload"] == "ERASED"
    assert document[1]["payload"] is None
    console = Console(record=True, width=220)
    render_timeline(console, CASE, rows, role=AgencyRole.PREFECTURE)
    text = console.export_text()
    assert "EFFACÉES" in text
    assert "Amina" not in text
    assert "vu par PREFECTURE" in text


def test_an_altered_ciphertext_replays_as_unreadable(
    entries: list[AuditEntry], store: MemoryKeyStore
) -> None:
    sealed = bytearray(entries[0].payload_ciphertext or b"")
    sealed[20] ^= 1
    rows = timeline([entries[0].model_copy(update={"payload_ciphertext": bytes(sealed)})], store)
    assert rows[0].payload_state is PayloadState.UNREADABLE


# ------------------------------------------------------------------------- subject report


def test_subject_report_lists_who_received_which_categories_when_and_why(
    entries: list[AuditEntry],
) -> None:
    report = subject_report(CASE, entries)
    assert [(d.seq, d.action, d.recipient) for d in report.disclosures] == [
        (2, AuditAction.ROUTED, "prefecture-93"),
        (4, AuditAction.RELEASED, "accommodation-93"),
        (5, AuditAction.DELIVERED, "prefecture-93"),
    ]
    by_recipient = {s.recipient: s for s in report.recipients}
    prefecture = by_recipient["prefecture-93"]
    assert prefecture.categories == (DataCategory.IDENTITY, DataCategory.IMMIGRATION_STATUS)
    assert (prefecture.first_at, prefecture.last_at) == (
        T0 + timedelta(minutes=10),
        T0 + timedelta(minutes=25),
    )
    assert prefecture.bases == (f"consent:{CONSENT}",)
    assert by_recipient["accommodation-93"].categories == (
        DataCategory.IDENTITY,
        DataCategory.HEALTH,
    )


def test_subject_report_tells_consent_from_a_legal_exception(entries: list[AuditEntry]) -> None:
    report = subject_report(CASE, entries)
    kinds = {(d.recipient, d.basis_kind, d.consent_id) for d in report.disclosures}
    assert kinds == {
        ("prefecture-93", BasisKind.CONSENT, CONSENT),
        ("accommodation-93", BasisKind.LEGAL_EXCEPTION, None),
    }


def test_a_held_message_is_not_a_disclosure(entries: list[AuditEntry]) -> None:
    assert 3 not in {d.seq for d in subject_report(CASE, entries).disclosures}


def test_subject_report_survives_erasure(entries: list[AuditEntry], store: MemoryKeyStore) -> None:
    before = subject_report(CASE, entries)
    store.destroy(CASE)
    erased, _ = next_entry(
        ChainHead.of(entries[-1]),
        case_id=CASE,
        recorded_at=T0 + timedelta(days=30),
        actor="nrm-hub",
        actor_role=AgencyRole.HUB,
        event_id=None,
        action=AuditAction.ERASED,
        legal_basis="RGPD art. 17",
        key_store=store,
    )
    after = subject_report(CASE, [*entries, erased])
    assert after.disclosures == before.disclosures
    assert after.erased_at == T0 + timedelta(days=30)
    document = subject_report_json(after)
    assert document["erased_at"] == "2026-04-01T09:30:00+00:00"
    assert document["recipients"][1]["categories"] == ["identity", "immigration_status"]
    console = Console(record=True, width=200)
    render_subject_report(console, after)
    text = console.export_text()
    assert "exception légale : " + CHILD_PROTECTION in text
    assert "effacées le 2026-04-01" in text


# The entries the hub writes for one delivery, the deadline it opens, an escalation and the
# withdrawal notice that follows (the fields ``hub.flow.delivery.routed``, the deadline note
# and ``hub.flow.withdrawal`` record): (action, decision, reason, basis, recipient, categories)
Written = tuple[AuditAction, str, str | None, str | None, str, tuple[DataCategory, ...]]
SHARED_THEN_NOTIFIED: list[Written] = [
    (AuditAction.ROUTED, "delivered fr.nrm.PresumedVictimReport", None, f"consent:{CONSENT}",
     "association-93", (DataCategory.IDENTITY, DataCategory.HEALTH)),
    (AuditAction.ROUTED, "deadline opened", "due 2026-03-05T09:30:00+00:00", None,
     "association-93", ()),
    (AuditAction.ESCALATED, "REMINDER", None, None, "association-93", ()),
    (AuditAction.ROUTED, "withdrawal notice: stop using these data", None, None,
     "association-93", (DataCategory.IDENTITY, DataCategory.HEALTH)),
    (AuditAction.ROUTED, "delivered fr.nrm.CaseClosed", None, "no personal data",
     "association-93", ()),
]  # fmt: skip


def written(steps: list[Written], store: MemoryKeyStore) -> list[AuditEntry]:
    head: ChainHead | None = None
    entries = []
    for seq, (action, decision, reason, basis, recipient, categories) in enumerate(steps):
        entry, head = next_entry(
            head,
            case_id=CASE,
            recorded_at=T0 + timedelta(hours=seq),
            actor="nrm-hub",
            actor_role=AgencyRole.HUB,
            event_id=UUID(int=seq + 1),
            action=action,
            decision=decision,
            reason=reason,
            legal_basis=basis,
            recipient=recipient,
            categories=categories,
            key_store=store,
        )
        entries.append(entry)
    return entries


@pytest.mark.parametrize(
    ("seq", "kind"),
    [
        (0, EntryKind.DISCLOSURE),  # categories left, on a consent
        (1, EntryKind.NOTICE),  # a deadline opened on the recipient
        (2, EntryKind.NOTICE),  # an escalation
        (3, EntryKind.NOTICE),  # names the categories to stop using; shares none
        (4, EntryKind.NOTICE),  # a message that carried no personal data
    ],
)
def test_each_entry_is_a_disclosure_or_a_notice_by_its_fields(
    store: MemoryKeyStore, seq: int, kind: EntryKind
) -> None:
    assert kind_of(written(SHARED_THEN_NOTIFIED, store)[seq]) is kind


def test_only_the_delivery_is_listed_as_shared(store: MemoryKeyStore) -> None:
    report = subject_report(CASE, written(SHARED_THEN_NOTIFIED, store))
    assert [(d.seq, d.recipient, d.basis_kind) for d in report.disclosures] == [
        (0, "association-93", BasisKind.CONSENT)
    ]
    assert [s.disclosures for s in report.recipients] == [1]
    assert [(n.seq, n.action) for n in report.notices] == [
        (1, AuditAction.ROUTED),
        (2, AuditAction.ESCALATED),
        (3, AuditAction.ROUTED),
        (4, AuditAction.ROUTED),
    ]
    assert report.notices[2].concerns == (DataCategory.IDENTITY, DataCategory.HEALTH)


def test_the_json_and_the_table_keep_notices_apart_from_what_was_shared(
    store: MemoryKeyStore,
) -> None:
    report = subject_report(CASE, written(SHARED_THEN_NOTIFIED, store))
    document = subject_report_json(report)
    assert [d["seq"] for d in document["disclosures"]] == [0]
    assert [n["seq"] for n in document["notices"]] == [1, 2, 3, 4]
    assert not any(n["personal_data_shared"] for n in document["notices"])
    console = Console(record=True, width=220)
    render_subject_report(console, report)
    text = console.export_text()
    shared, _, notices = text.partition("Avis envoyés (aucune donnée personnelle communiquée)")
    assert "NONE" not in shared
    for wording in ("withdrawal notice", "deadline opened"):
        assert wording not in shared
        assert wording in notices
