"""The refusal notice (issue 21, finding 3): the sender of a refused record is told, in its
inbox, which record, why, and what to do — and nothing else. An attacker must not be able to
make a notice carry personal data, and a notice must reach only the outbox's owner."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole, DeadLetterReason
from hub.contracts.events import (
    PresumedVictimReport,
    RefusalNotice,
)
from hub.contracts.examples import example_events
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import inbox_topic, outbox_topic
from hub.flow.dead_letters import (
    dead_letter,
)
from hub.flow.ingest import (
    RawRecord,
)
from hub.flow.refusal_notice import (
    NO_CASE,
    WHAT_IT_MEANS,
    notice_delivery,
    notice_recipient,
    refusal_notice,
)
from hub.rules.directory import Directory
from hub.runtime.settings import get_settings

R = DeadLetterReason
DIRECTORY = Directory.load(get_settings().config_dir)
CODEC = Codec(SchemaRegistry.load(get_settings().schemas_dir))
REPORT = next(e for _s, e in example_events() if isinstance(e, PresumedVictimReport))
PERSONAL = ("Amina", "Diallo", "+33 6 00 00 00 00", "passeport retenu")


def letter(
    topic: str = outbox_topic("police-93"),
    reason: DeadLetterReason = R.UNKNOWN_REQUEST,
    *,
    offset: int = 5,
    detail: str = "no request 1234 in case",
    ids: bool = True,
) -> DeadLetter:
    value = CODEC.encode_event(REPORT)
    # Without ids, nothing names the case: not the envelope, not the record key (a key that
    # is a case id names the case of an undecodable record, whose original is sealed under it).
    key = str(REPORT.envelope.case_id).encode() if ids else b"not-a-case"
    raw = RawRecord(topic, 1, offset, key, value, 1_790_000_000)
    return dead_letter(
        raw,
        reason,
        detail,
        case_id=REPORT.envelope.case_id if ids else None,
        event_id=REPORT.envelope.event_id if ids else None,
    )


def test_the_notice_goes_to_the_owner_of_the_outbox_and_to_nobody_else() -> None:
    recipient = notice_recipient(letter(), DIRECTORY)
    assert recipient is not None
    assert recipient.id == "police-93"
    delivery = notice_delivery(refusal_notice(letter(), authenticated=True), recipient)
    assert inbox_topic(delivery.recipient.id) == "nrm.inbox.police-93"
    assert delivery.categories == frozenset()


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        (outbox_topic("nobody-99"), R.SPOOFED_SENDER),  # no agency, no inbox
        ("nrm.inbox.police-93", R.DELIVERY_FAILED),  # the hub's own delivery failed
        (outbox_topic("police-93"), R.DELIVERY_FAILED),
    ],
)
def test_nobody_is_notified_without_an_owner_or_of_the_hubs_own_delivery_failures(
    topic: str, reason: DeadLetterReason
) -> None:
    assert notice_recipient(letter(topic, reason), DIRECTORY) is None


def test_a_refused_report_full_of_personal_data_gives_a_notice_without_any() -> None:
    # The dead letter's own detail may quote the record; the notice never copies it.
    hostile = letter(reason=R.SCHEMA_VIOLATION, detail="person.first_name: Amina Diallo")
    notice = refusal_notice(hostile, authenticated=True)
    wire = CODEC.encode_event(notice)
    text = wire.decode("utf-8", "replace") + notice.model_dump_json()
    for value in PERSONAL:
        assert value not in text
    assert notice.detail.startswith(WHAT_IT_MEANS[R.SCHEMA_VIOLATION])
    assert CODEC.decode_event(wire) == notice


def test_the_notice_names_the_record_and_the_reason_and_comes_from_the_hub() -> None:
    refused = letter()
    notice = refusal_notice(refused, authenticated=True)
    assert isinstance(notice, RefusalNotice)
    assert notice.reason is R.UNKNOWN_REQUEST
    assert "request_id" in notice.detail
    assert "dead_letter_id" in notice.detail
    assert (notice.source_topic, notice.source_partition, notice.source_offset) == (
        "nrm.outbox.police-93",
        1,
        5,
    )
    assert notice.refused_event_id == REPORT.envelope.event_id
    assert notice.envelope.causation_id == REPORT.envelope.event_id
    assert notice.envelope.case_id == REPORT.envelope.case_id
    assert (notice.envelope.sender, notice.envelope.sender_role) == ("hub", AgencyRole.HUB)
    assert notice.dead_letter_id == refused.dead_letter_id


def test_the_same_refusal_gives_the_same_notice_and_another_refusal_another() -> None:
    first = refusal_notice(letter(), authenticated=True)
    again = refusal_notice(letter(), authenticated=True)
    other = refusal_notice(letter(offset=6), authenticated=True)
    assert first.envelope.event_id == again.envelope.event_id
    assert other.envelope.event_id != first.envelope.event_id


def test_an_unreadable_record_is_notified_under_no_case_and_flagged_as_unproven() -> None:
    notice = refusal_notice(
        letter(reason=R.CORRUPT_FRAME, ids=False),
        authenticated=False,
    )
    assert notice.envelope.case_id == NO_CASE
    assert notice.refused_event_id is None
    assert not notice.authenticated
    assert "quelqu'un écrit sur votre boîte d'envoi" in notice.detail


def test_every_reason_has_a_french_explanation() -> None:
    assert set(WHAT_IT_MEANS) == set(DeadLetterReason)
    for reason in DeadLetterReason:
        notice = refusal_notice(letter(reason=reason), authenticated=True)
        assert notice.detail.startswith(WHAT_IT_MEANS[reason])
        assert "coordination nationale" in notice.detail


def test_a_notice_instant_is_the_refused_records() -> None:
    notice = refusal_notice(letter(), authenticated=True)
    assert notice.envelope.occurred_at == datetime.fromtimestamp(1_790_000, tz=UTC)
    assert isinstance(notice.envelope.event_id, uuid.UUID)
