"""Re-drive records for tests, built as ``agents/redrive.py`` builds them: the dead letter's
bytes as the worker wrote them (signed by the hub for ``nrm.deadletters``), signed again by the
operator-action key for ``nrm.redrive``, the letter's own signature carried beside it.

Each signer can be swapped for a stranger's key, or dropped, to build the attacks."""

from __future__ import annotations

from datetime import datetime

from hub.contracts.codec import Codec
from hub.contracts.hub_records import DeadLetter
from hub.contracts.topics import DEAD_LETTERS, REDRIVE
from hub.flow.ingest import RawRecord
from hub.flow.redrives import letter_key
from hub.runtime.settings import get_settings
from hub.trust.agency_keys import load_private_key
from hub.trust.hub_keys import hub_public_keys
from hub.trust.operator_actions import carry_signature, operator_action_keys
from hub.trust.signing import Header, HubSigner, RecordSigner, to_ms

SETTINGS = get_settings()
HUB = HubSigner.from_pem(SETTINGS.signing_key_path, SETTINGS.signing_key_id)
OPERATOR = RecordSigner(
    load_private_key(SETTINGS.operator_action_key_path), SETTINGS.operator_action_key_id
)
HUB_KEYS = hub_public_keys(SETTINGS.config_dir)
OPERATOR_KEYS = operator_action_keys(SETTINGS.config_dir)


def letter_headers(
    letter: DeadLetter, value: bytes, *, hub: RecordSigner | None = HUB
) -> list[Header]:
    """The headers the worker's writer puts on ``letter`` (``value``) on ``nrm.deadletters``."""
    return [] if hub is None else hub.sign(DEAD_LETTERS.name, letter_key(letter), value)


def redrive_headers(
    letter: DeadLetter,
    value: bytes,
    key: bytes | None,
    *,
    operator: RecordSigner | None = OPERATOR,
    hub: RecordSigner | None = HUB,
    signed_at: datetime | None = None,
) -> list[Header]:
    """The headers of the re-drive of ``letter``: the operator's signature (``signed_at``,
    now by default), then the hub's signature of the letter, carried."""
    headers: list[Header] = []
    if operator is not None:
        stamp = None if signed_at is None else to_ms(signed_at)
        headers += operator.sign(REDRIVE.name, key, value, timestamp_ms=stamp)
    return headers + carry_signature(letter_headers(letter, value, hub=hub))


def redrive_record(
    letter: DeadLetter,
    codec: Codec,
    *,
    partition: int = 0,
    offset: int = 3,
    operator: RecordSigner | None = OPERATOR,
    hub: RecordSigner | None = HUB,
    signed_at: datetime | None = None,
) -> RawRecord:
    """The re-drive of ``letter`` as the worker reads it from ``nrm.redrive``."""
    value = codec.encode_event(letter)
    key = str(letter.case_id).encode() if letter.case_id else letter.original_key
    headers = redrive_headers(letter, value, key, operator=operator, hub=hub, signed_at=signed_at)
    stamp = to_ms(signed_at) if signed_at is not None else None
    return RawRecord(
        topic=REDRIVE.name,
        partition=partition,
        offset=offset,
        key=key,
        value=value,
        timestamp_ms=stamp if stamp is not None else to_ms(datetime.now().astimezone()),
        headers=tuple(headers),
    )
