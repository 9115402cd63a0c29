"""Dead letters for operators: list them, and re-drive one after the cause is fixed.

A re-drive writes the dead letter itself, byte for byte as the worker wrote it, to
``nrm.redrive``, keyed like the original record, so the worker that owns the case handles it
as the original record from its source outbox: signature verified as at its first arrival,
then ingest and routing as usual. A re-driven record that fails again becomes a new dead
letter; one that succeeds is routed once.

The re-drive is signed with the operator-action key (``hub.trust.operator_actions``: the CLI
and the dashboard hold it, never the hub's key) and carries the hub's own signature of the
letter, so the worker can prove both (``hub/flow/redrives.py``). A letter the hub's signature
does not prove (someone wrote it to ``nrm.deadletters``) is never re-driven.

Only where a fix can help (``hub/rules/redrive.py``): a forged, unsigned, altered, corrupt,
stale or replayed record, or one whose original was cut, is refused with the reason, for the
CLI and the dashboard alike, and the worker refuses it again whoever wrote the re-drive.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from agents.io import clients
from agents.io.reader import read_topics
from hub.contracts.codec import Codec, CodecError
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import DEAD_LETTERS, REDRIVE
from hub.flow.redrives import hub_wrote
from hub.flow.redrives import refusal_of as letter_refusal
from hub.runtime.settings import HubSettings
from hub.trust.hub_keys import ARCHIVE_POLICY, hub_public_keys
from hub.trust.operator_actions import (
    carry_signature,
    operator_action_keys,
    operator_action_signer,
)
from hub.trust.verification import SignatureError, verify_from_hub


class RedriveError(LookupError):
    """The dead letter cannot be re-driven (unknown id, already re-driven, or a re-drive
    cannot help it)."""


@dataclass(frozen=True)
class StoredLetter:
    """A dead letter as ``nrm.deadletters`` holds it: its bytes and headers as written, and
    whether the hub's signature proves the hub wrote it."""

    letter: DeadLetter
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    hub_signed: bool


def refusal_of(stored: StoredLetter) -> str | None:
    """Why re-driving ``stored`` cannot help (French, for operators), or None."""
    return letter_refusal(stored.letter, hub_signed=stored.hub_signed)


@dataclass(frozen=True)
class RedriveResult:
    """Where the re-drive was written."""

    dead_letter_id: uuid.UUID
    partition: int
    offset: int


async def read_letters(settings: HubSettings, topic: str) -> list[DeadLetter]:
    """Every dead letter ``topic`` holds (undecodable records skipped), proven or not."""
    return [s.letter for s in await _read_stored(settings, topic, hub_keys=())]


async def _read_stored(
    settings: HubSettings, topic: str, *, hub_keys: Sequence[str]
) -> list[StoredLetter]:
    codec = _codec(settings)
    letters = []
    for record in await read_topics(settings, [topic]):
        with contextlib.suppress(CodecError):
            value = record.value or b""
            event = codec.decode_event(value)
            if isinstance(event, DeadLetter):
                headers = tuple((n, v) for n, v in record.headers or () if v is not None)
                proven = bool(hub_keys) and hub_wrote(event, value, headers, hub_keys)
                letters.append(StoredLetter(event, value, headers, proven))
    return letters


def _codec(settings: HubSettings) -> Codec:
    return Codec(
        SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
    )


async def redriven_ids(settings: HubSettings) -> set[uuid.UUID]:
    """Ids of the dead letters already re-driven: by a re-drive an operator-action key signed
    (one written by anyone else hides nothing from the list)."""
    keys = list(operator_action_keys(settings.config_dir))
    codec = _codec(settings)
    done = set()
    for record in await read_topics(settings, [REDRIVE.name]):
        with contextlib.suppress(CodecError, SignatureError):
            event = codec.decode_event(record.value or b"")
            if isinstance(event, DeadLetter):
                verify_from_hub(
                    REDRIVE.name,
                    record.key,
                    record.value,
                    record.headers,
                    keys,
                    policy=ARCHIVE_POLICY,
                )
                done.add(event.dead_letter_id)
    return done


async def list_stored(
    settings: HubSettings, *, include_redriven: bool = False
) -> list[StoredLetter]:
    """Dead letters, oldest first (those already re-driven left out unless asked for), each
    with whether the hub's signature proves it. Of two letters with one id, the proven one."""
    keys = hub_public_keys(settings.config_dir, settings.previous_hub_public_keys)
    letters = await _read_stored(settings, DEAD_LETTERS.name, hub_keys=keys)
    if not include_redriven:
        done = await redriven_ids(settings)
        letters = [s for s in letters if s.letter.dead_letter_id not in done]
    unique: dict[uuid.UUID, StoredLetter] = {}
    for stored in letters:
        earlier = unique.get(stored.letter.dead_letter_id)
        if earlier is None or not earlier.hub_signed:
            unique[stored.letter.dead_letter_id] = stored
    return sorted(unique.values(), key=lambda s: s.letter.occurred_at)


async def list_dead_letters(
    settings: HubSettings, *, include_redriven: bool = False
) -> list[DeadLetter]:
    """Dead letters, oldest first (those already re-driven left out unless asked for)."""
    return [s.letter for s in await list_stored(settings, include_redriven=include_redriven)]


async def redrive(settings: HubSettings, dead_letter_id: uuid.UUID) -> RedriveResult:
    """Re-inject one dead letter through ``nrm.redrive``, signed with the operator-action key
    (RedriveError if it cannot be; KeyFileError, a ValueError, if the key cannot be read)."""
    letters = {
        s.letter.dead_letter_id: s for s in await list_stored(settings, include_redriven=True)
    }
    stored = letters.get(dead_letter_id)
    if stored is None:
        raise RedriveError(f"aucune lettre morte {dead_letter_id}")
    letter = stored.letter
    refusal = refusal_of(stored)
    if refusal is not None:
        raise RedriveError(
            f"relance refusée pour {dead_letter_id} ({letter.reason.value}) : {refusal}"
        )
    if dead_letter_id in await redriven_ids(settings):
        raise RedriveError(f"la lettre morte {dead_letter_id} a déjà été relancée")
    signer = operator_action_signer(
        settings.operator_action_key_path, settings.operator_action_key_id
    )
    key = str(letter.case_id).encode() if letter.case_id else letter.original_key
    headers = [*signer.sign(REDRIVE.name, key, stored.value), *carry_signature(stored.headers)]
    producer = clients.producer(settings)
    await producer.start()
    try:
        sent = await producer.send_and_wait(REDRIVE.name, stored.value, key=key, headers=headers)
    finally:
        await producer.stop()
    return RedriveResult(dead_letter_id, sent.partition, sent.offset)
