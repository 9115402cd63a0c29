"""Dead letters for operators: list them, and re-drive one after the cause is fixed.

A re-drive writes the dead letter itself to ``nrm.redrive``, keyed like the original record,
so the worker that owns the case handles it as the original record from its source outbox:
signature verified as at its first arrival, then ingest and routing as usual. A re-driven
record that fails again becomes a new dead letter; one that succeeds is routed once.

Only where a fix can help (``hub/rules/redrive.py``): a forged, unsigned, altered, corrupt,
stale or replayed record, or one whose original was cut, is refused with the reason, for the
CLI and the dashboard alike.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass

from agents.io import clients
from agents.io.reader import read_topics
from hub.audit.sealing import is_sealed
from hub.contracts.codec import Codec, CodecError
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import DEAD_LETTERS, REDRIVE, agency_of_outbox
from hub.flow.dead_letters import (
    MAX_ORIGINAL_BYTES,
)
from hub.rules.redrive import Original, forged_envelope, redrive_refusal
from hub.runtime.settings import HubSettings


class RedriveError(LookupError):
    """The dead letter cannot be re-driven (unknown id, already re-driven, or a re-drive
    cannot help it)."""


CUT_NOTE = f"(original cut to its first {MAX_ORIGINAL_BYTES} bytes)"
"""What ingest appends to the detail of a letter whose original it cut (hub/flow/ingest.py)."""


def original_of(letter: DeadLetter) -> Original:
    """What ``letter`` holds of the refused record: nothing (its case was erased before the
    letter was written), a cut original (the note, or a clear original of the cut size), or
    the whole record (sealed under the case key or in clear)."""
    if not letter.original:
        return Original.NOT_KEPT
    clear_and_full = not is_sealed(letter.original) and len(letter.original) >= MAX_ORIGINAL_BYTES
    if CUT_NOTE in letter.detail or clear_and_full:
        return Original.CUT
    return Original.WHOLE


def refusal_of(letter: DeadLetter) -> str | None:
    """Why re-driving ``letter`` cannot help (French, for operators), or None."""
    return redrive_refusal(
        letter.reason,
        original=original_of(letter),
        forged=forged_envelope(letter.claimed_sender, agency_of_outbox(letter.source_topic)),
    )


@dataclass(frozen=True)
class RedriveResult:
    """Where the re-drive was written."""

    dead_letter_id: uuid.UUID
    partition: int
    offset: int


async def read_letters(settings: HubSettings, topic: str) -> list[DeadLetter]:
    """Every dead letter ``topic`` holds (undecodable records skipped)."""
    codec = _codec(settings)
    letters = []
    for record in await read_topics(settings, [topic]):
        with contextlib.suppress(CodecError):
            event = codec.decode_event(record.value or b"")
            if isinstance(event, DeadLetter):
                letters.append(event)
    return letters


def _codec(settings: HubSettings) -> Codec:
    return Codec(
        SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
    )


async def redriven_ids(settings: HubSettings) -> set[uuid.UUID]:
    """Ids of the dead letters already re-driven."""
    return {d.dead_letter_id for d in await read_letters(settings, REDRIVE.name)}


async def list_dead_letters(
    settings: HubSettings, *, include_redriven: bool = False
) -> list[DeadLetter]:
    """Dead letters, oldest first (those already re-driven left out unless asked for)."""
    letters = await read_letters(settings, DEAD_LETTERS.name)
    if not include_redriven:
        done = await redriven_ids(settings)
        letters = [d for d in letters if d.dead_letter_id not in done]
    unique = {d.dead_letter_id: d for d in letters}
    return sorted(unique.values(), key=lambda d: d.occurred_at)


async def redrive(settings: HubSettings, dead_letter_id: uuid.UUID) -> RedriveResult:
    """Re-inject one dead letter through ``nrm.redrive`` (RedriveError if it cannot be)."""
    codec = _codec(settings)
    letters = {
        d.dead_letter_id: d for d in await list_dead_letters(settings, include_redriven=True)
    }
    letter = letters.get(dead_letter_id)
    if letter is None:
        raise RedriveError(f"aucune lettre morte {dead_letter_id}")
    refusal = refusal_of(letter)
    if refusal is not None:
        raise RedriveError(
            f"relance refusée pour {dead_letter_id} ({letter.reason.value}) : {refusal}"
        )
    if dead_letter_id in await redriven_ids(settings):
        raise RedriveError(f"la lettre morte {dead_letter_id} a déjà été relancée")
    key = str(letter.case_id).encode() if letter.case_id else letter.original_key
    producer = clients.producer(settings)
    await producer.start()
    try:
        sent = await producer.send_and_wait(REDRIVE.name, codec.encode_event(letter), key=key)
    finally:
        await producer.stop()
    return RedriveResult(dead_letter_id, sent.partition, sent.offset)
