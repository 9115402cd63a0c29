"""What the worker believes of a re-drive, as a table of attacks (issue 21, trust).

The promise: a record on ``nrm.redrive`` is pushed through only when the operator-action key
signed it within the ingest windows, the hub's own signature proves the dead letter it carries,
and the re-drive policy lets that letter through. Whoever can produce to the topic (anyone on
the embedded broker) gets a dead letter with a machine reason, and nothing routed. The original
is checked against the letter's ``occurred_at``, which only the hub could have signed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from redrive_records import HUB, HUB_KEYS, OPERATOR, OPERATOR_KEYS, redrive_record

from hub.contracts.codec import Codec
from hub.contracts.enums import DeadLetterReason
from hub.contracts.hub_records import DeadLetter
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import REDRIVE, outbox_topic
from hub.flow.decisions import Inbound
from hub.flow.ingest import RawRecord, Rejected, unwrap_redrive
from hub.flow.redrives import RedriveRefused, proven_redrive
from hub.runtime.settings import get_settings
from hub.trust.signing import RecordSigner

R = DeadLetterReason
CODEC = Codec(SchemaRegistry.load(get_settings().schemas_dir))
STRANGER = RecordSigner(Ed25519PrivateKey.generate(), OPERATOR.key_id)
NOW = datetime.now(UTC)


def letter(**changes: object) -> DeadLetter:
    """A dead letter as the worker writes it: an outbox record it could not route."""
    fields: dict[str, object] = {
        "dead_letter_id": uuid.uuid4(),
        "occurred_at": NOW - timedelta(hours=1),
        "reason": R.NO_ELIGIBLE_RECIPIENT,
        "detail": "no recipient yet",
        "original": b"\x00\x00\x00\x00\x01original",
        "source_topic": outbox_topic("police-93"),
        "source_partition": 0,
        "source_offset": 7,
        "case_id": uuid.uuid4(),
    }
    return DeadLetter.model_validate(fields | changes)


@dataclass(frozen=True)
class Attack:
    name: str
    letter: DeadLetter = field(default_factory=letter)
    operator: RecordSigner | None = OPERATOR
    hub: RecordSigner | None = HUB
    signed_at: datetime | None = None
    reason: DeadLetterReason | None = None
    """None: the re-drive is believed."""


ATTACKS = [
    Attack("a re-drive the CLI or the dashboard writes"),
    Attack("unsigned", operator=None, reason=R.BAD_SIGNATURE),
    Attack(
        "signed by a stranger under the operator key id", operator=STRANGER, reason=R.BAD_SIGNATURE
    ),
    Attack("signed with the hub's key, not the operator's", operator=HUB, reason=R.BAD_SIGNATURE),
    Attack(
        "an old signed re-drive replayed",
        signed_at=NOW - timedelta(days=2),
        reason=R.STALE_SIGNATURE,
    ),
    Attack("signed in the future", signed_at=NOW + timedelta(hours=1), reason=R.STALE_SIGNATURE),
    Attack("a letter the hub never signed", hub=None, reason=R.BAD_SIGNATURE),
    Attack("a letter signed by a stranger as the hub", hub=STRANGER, reason=R.BAD_SIGNATURE),
    Attack(
        "a back-dated STALE_SIGNATURE letter",
        letter=letter(reason=R.STALE_SIGNATURE, occurred_at=NOW - timedelta(days=30)),
        reason=R.SEMANTIC_VIOLATION,
    ),
    Attack(
        "a BAD_SIGNATURE letter", letter=letter(reason=R.BAD_SIGNATURE), reason=R.SEMANTIC_VIOLATION
    ),
    Attack(
        "a forged envelope",
        letter=letter(reason=R.SPOOFED_SENDER, claimed_sender="prefecture-93"),
        reason=R.SEMANTIC_VIOLATION,
    ),
    Attack(
        "the refusal of an earlier re-drive",
        letter=letter(reason=R.SEMANTIC_VIOLATION, source_topic=REDRIVE.name),
        reason=R.SEMANTIC_VIOLATION,
    ),
    Attack(
        "a letter whose original is gone", letter=letter(original=b""), reason=R.SEMANTIC_VIOLATION
    ),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_a_redrive_is_believed_only_when_everything_about_it_is_proven(attack: Attack) -> None:
    raw = redrive_record(
        attack.letter, CODEC, operator=attack.operator, hub=attack.hub, signed_at=attack.signed_at
    )
    proven = proven_redrive(
        raw.key, raw.value, raw.headers, CODEC, operator_keys=OPERATOR_KEYS, hub_keys=HUB_KEYS
    )
    if attack.reason is None:
        assert proven == attack.letter
        return
    assert isinstance(proven, RedriveRefused)
    assert proven.reason is attack.reason, proven.detail
    refused = unwrap_redrive(
        raw, CODEC, lambda _t: 4, operator_keys=OPERATOR_KEYS, hub_keys=HUB_KEYS
    )
    assert isinstance(refused, Rejected)  # a dead letter of its own, never an Inbound
    assert not isinstance(refused, Inbound)
    assert (refused.raw.topic, refused.reason) == (REDRIVE.name, attack.reason)


def test_a_letter_altered_after_the_hub_signed_it_is_refused() -> None:
    """The attack found in review: the writer back-dates ``occurred_at`` so the original's
    signature window opens again. The hub signed the letter's bytes: any change breaks it."""
    genuine = letter()
    raw = redrive_record(genuine, CODEC)
    back_dated = CODEC.encode_event(
        genuine.model_copy(update={"occurred_at": NOW - timedelta(days=9)})
    )
    assert back_dated != raw.value
    headers = [h for h in raw.headers if h[0].startswith("nrm-letter-")]
    headers += OPERATOR.sign(REDRIVE.name, raw.key, back_dated)
    proven = proven_redrive(
        raw.key, back_dated, headers, CODEC, operator_keys=OPERATOR_KEYS, hub_keys=HUB_KEYS
    )
    assert isinstance(proven, RedriveRefused)
    assert proven.reason is R.BAD_SIGNATURE


def test_no_operator_key_configured_believes_no_redrive() -> None:
    raw = redrive_record(letter(), CODEC)
    proven = proven_redrive(
        raw.key, raw.value, raw.headers, CODEC, operator_keys=(), hub_keys=HUB_KEYS
    )
    assert isinstance(proven, RedriveRefused)
    assert proven.reason is R.BAD_SIGNATURE


def test_the_original_is_checked_against_the_hub_signed_time() -> None:
    first_seen = (NOW - timedelta(days=3)).replace(microsecond=0)
    raw = redrive_record(letter(occurred_at=first_seen), CODEC)
    unwrapped = unwrap_redrive(
        raw, CODEC, lambda _t: 4, operator_keys=OPERATOR_KEYS, hub_keys=HUB_KEYS
    )
    assert isinstance(unwrapped, tuple)
    original, signed_at = unwrapped
    assert signed_at == first_seen
    assert isinstance(original, RawRecord)
    assert original.redriven
