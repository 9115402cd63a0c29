"""The changelog value of a case state: personal fields sealed, routing metadata in clear."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from hub.audit.keys import MemoryKeyStore
from hub.audit.sealing import Purpose, seal
from hub.contracts.enums import (
    AgencyRole,
    DataCategory,
    ExploitationType,
    PermitType,
    RightsTopic,
    SafeChannel,
)
from hub.contracts.examples import CASE_ID, example_events
from hub.flow.case_record import SEALED_FIELDS, Personal, decode_state, encode_state
from hub.flow.case_state import CaseFacts, CaseState, Held, Informed, OpenRequest, Pathway, Safety
from hub.rules.lifecycle import CaseStatus

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)
EVENT = next(e for _s, e in example_events() if hasattr(e, "person"))
RECORD = EVENT.model_dump_json()
PERSONAL = ("Amina", "Diallo", "1994-03-12")


def full_state() -> CaseState:
    held = Held(
        event_id=EVENT.envelope.event_id,  # type: ignore[attr-defined]
        subject="fr.nrm.PresumedVictimReport",
        sender="police-93",
        recipient="association-93",
        role=AgencyRole.SUPPORT_ASSOCIATION,
        missing=frozenset({DataCategory.HEALTH}),
        held_at=AT,
        record_json=RECORD,
    )
    request = OpenRequest(
        request_id=EVENT.envelope.event_id,  # type: ignore[attr-defined]
        subject="fr.nrm.AccommodationRequested",
        requester="police-93",
        recipient="shelter-93",
        role=AgencyRole.ACCOMMODATION_PROVIDER,
        opened_at=AT,
        record_json=RECORD,
    )
    return CaseState(
        case_id=CASE_ID,
        status=CaseStatus.UNDER_IDENTIFICATION,
        facts=CaseFacts(
            departement="93", exploitation_types=frozenset({ExploitationType.SEXUAL}), minor=True
        ),
        safety=Safety(do_not_contact=True, safe_channel=SafeChannel.SMS),
        holds=(held,),
        requests=(request,),
        pathway=Pathway(
            grounds_at=AT,
            informed=(
                Informed(event_id=CASE_ID, topics=frozenset({RightsTopic.EXIT_PATHWAY_L425_4})),
            ),
            chosen_permits=frozenset({PermitType.EXIT_PATHWAY_AUTHORISATION}),
        ),
    )


def test_the_record_holds_names_in_the_event_it_seals() -> None:
    # Otherwise the "not in clear" checks below could not fail.
    assert all(word in RECORD for word in PERSONAL)


def test_a_state_round_trips_through_its_sealed_record() -> None:
    keys, state = MemoryKeyStore(), full_state()
    stored = decode_state(encode_state(state, keys), keys)
    assert stored.personal is Personal.OPENED
    assert stored.state == state


def test_no_personal_field_is_in_clear_in_the_record() -> None:
    value = encode_state(full_state(), MemoryKeyStore())
    record = json.loads(value)
    assert record["sealed"], "the personal part must be sealed, not dropped"
    # The sealed blob is random-looking text in which a short word ("SMS") can occur by
    # chance: the words are looked for in everything else the record holds.
    readable = json.dumps({**record, "sealed": None}).encode()
    for word in (
        *PERSONAL,
        "SEXUAL",
        "SMS",
        "do_not_contact",
        "record_json",
        "shelter-93",
        "EXIT_PATHWAY_L425_4",  # the person's rights information and choices
        "EXIT_PATHWAY_AUTHORISATION",
    ):
        assert word.encode() not in readable, word
    opened_without_key = base64.b64decode(record["sealed"])
    assert not any(word.encode() in opened_without_key for word in PERSONAL)
    clear = record["state"]
    assert not SEALED_FIELDS & set(clear)
    assert clear["status"] == "UNDER_IDENTIFICATION"


def test_after_the_key_is_destroyed_only_the_clear_part_comes_back() -> None:
    keys, state = MemoryKeyStore(), full_state()
    value = encode_state(state, keys)
    keys.destroy(CASE_ID)
    stored = decode_state(value, keys)
    assert stored.personal is Personal.GONE
    assert stored.state.status is CaseStatus.UNDER_IDENTIFICATION
    assert stored.state.facts == CaseFacts()
    assert stored.state.holds == ()
    assert stored.state.requests == ()
    assert stored.state.pathway == Pathway()


def test_a_state_written_after_the_key_is_destroyed_keeps_no_personal_data() -> None:
    keys, state = MemoryKeyStore(), full_state()
    keys.destroy(CASE_ID)
    value = encode_state(state, keys)
    assert json.loads(value)["sealed"] is None
    for word in (*PERSONAL, "SEXUAL"):
        assert word.encode() not in value
    assert decode_state(value, keys).personal is Personal.GONE


def test_an_altered_sealed_part_is_unreadable_not_a_crash() -> None:
    keys = MemoryKeyStore()
    document = json.loads(encode_state(full_state(), keys))
    document["sealed"] = document["sealed"][:-8] + "AAAAAAA="
    stored = decode_state(json.dumps(document).encode(), keys)
    assert stored.personal is Personal.UNREADABLE
    assert stored.state.holds == ()


def test_a_state_written_before_sealing_is_still_read() -> None:
    state = full_state()
    stored = decode_state(state.model_dump_json().encode(), MemoryKeyStore())
    assert stored.personal is Personal.LEGACY
    assert stored.state == state


def test_a_clear_part_carrying_personal_fields_is_refused() -> None:
    # Personal data written in clear beside the seal is an altered record, never read as is.
    keys = MemoryKeyStore()
    document = json.loads(encode_state(full_state(), keys))
    document["state"]["holds"] = []
    with pytest.raises(ValueError, match="sealed fields"):
        decode_state(json.dumps(document).encode(), keys)


def test_a_sealed_part_cannot_override_the_clear_fields() -> None:
    # Even sealed under the right key, a blob may only carry the personal fields: it cannot
    # replace the status or the audit chain head kept in clear.
    keys, state = MemoryKeyStore(), full_state()
    document = json.loads(encode_state(state, keys))
    forged = seal(keys, CASE_ID, Purpose.CASE_STATE, b'{"status":"CLOSED"}')
    document["sealed"] = base64.b64encode(forged).decode()
    stored = decode_state(json.dumps(document).encode(), keys)
    assert stored.personal is Personal.UNREADABLE
    assert stored.state.status is CaseStatus.UNDER_IDENTIFICATION
