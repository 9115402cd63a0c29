"""Whether a re-drive may push a dead letter through again.

A re-drive on ``nrm.redrive`` is the dead letter's bytes exactly as the worker wrote them to
``nrm.deadletters``, with two signatures: the operator's (the operator-action key, over the
re-drive, within the ingest windows) and the hub's own over the letter, carried beside it
(``hub.trust.operator_actions``). The worker believes a re-drive only when both verify, then
applies the re-drive policy (``hub/rules/redrive.py``) to the letter itself, as the CLI and the
dashboard do before offering « Relancer »: a re-drive written straight to the topic gets no
further than one offered by a screen. The original record is then checked against the time
the hub first received it, ``occurred_at`` of a letter only the hub could have signed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from hub.audit.sealing import is_sealed
from hub.contracts.codec import Codec, CodecError
from hub.contracts.enums import DeadLetterReason
from hub.contracts.hub_records import DeadLetter
from hub.contracts.topics import DEAD_LETTERS, REDRIVE, agency_of_outbox
from hub.flow.sealed_letters import CUT_NOTE, MAX_ORIGINAL_BYTES
from hub.rules.redrive import Original, forged_envelope, redrive_refusal
from hub.trust.hub_keys import signed_by_hub
from hub.trust.operator_actions import carried_signature, verify_operator_action
from hub.trust.signing import ReceivedHeaders
from hub.trust.verification import SignatureError


@dataclass(frozen=True)
class RedriveRefused:
    """Why the worker will not push a re-drive through: the dead letter's machine reason for
    the re-drive record, and its detail."""

    reason: DeadLetterReason
    detail: str
    case_id: uuid.UUID | None = None


def letter_key(letter: DeadLetter) -> bytes | None:
    """The record key the worker wrote ``letter`` under on ``nrm.deadletters``."""
    return str(letter.case_id).encode() if letter.case_id else None


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


def refusal_of(letter: DeadLetter, *, hub_signed: bool) -> str | None:
    """Why re-driving ``letter`` cannot help (French, for operators), or None.

    ``hub_signed``: whether the hub's signature on the letter verified."""
    return redrive_refusal(
        letter.reason,
        hub_signed=hub_signed,
        original=original_of(letter),
        forged=forged_envelope(letter.claimed_sender, agency_of_outbox(letter.source_topic)),
        from_redrive=letter.source_topic == REDRIVE.name,
    )


def hub_wrote(
    letter: DeadLetter, value: bytes, letter_headers: ReceivedHeaders, hub_keys: Sequence[str]
) -> bool:
    """Whether the hub's signature (``letter_headers``, the letter's own on
    ``nrm.deadletters``) proves it wrote ``value``, the letter's bytes."""
    try:
        signed_by_hub(DEAD_LETTERS.name, letter_key(letter), value, letter_headers, hub_keys)
    except SignatureError:
        return False
    return True


def proven_redrive(
    key: bytes | None,
    value: bytes | None,
    headers: ReceivedHeaders,
    codec: Codec,
    *,
    operator_keys: Sequence[str],
    hub_keys: Sequence[str],
) -> DeadLetter | RedriveRefused:
    """The dead letter a re-drive record carries, once everything about it is proven, or why
    not: BAD_SIGNATURE (the re-drive is unsigned or not signed by an operator-action key; the
    letter is not the hub's), STALE_SIGNATURE (the re-drive was signed outside the ingest
    windows: a copy replayed later), CORRUPT_FRAME and the codec's reasons (no letter),
    SEMANTIC_VIOLATION (a letter the re-drive policy never pushes through)."""
    try:
        verify_operator_action(REDRIVE.name, key, value, headers, operator_keys)
    except SignatureError as exc:
        return RedriveRefused(exc.reason, f"re-drive: {exc.detail}")
    try:
        letter = codec.decode_event(value or b"")
    except CodecError as exc:
        return RedriveRefused(exc.reason, f"re-drive: {exc.detail}")
    if not isinstance(letter, DeadLetter):
        return RedriveRefused(DeadLetterReason.SEMANTIC_VIOLATION, "re-drive: not a DeadLetter")
    assert value is not None
    if not hub_wrote(letter, value, carried_signature(headers), hub_keys):
        return RedriveRefused(
            DeadLetterReason.BAD_SIGNATURE,
            f"re-drive of dead letter {letter.dead_letter_id}: the hub's signature does not "
            "prove it wrote that letter",
        )
    refusal = refusal_of(letter, hub_signed=True)
    if refusal is not None:
        return RedriveRefused(
            DeadLetterReason.SEMANTIC_VIOLATION,
            f"re-drive of dead letter {letter.dead_letter_id} ({letter.reason.value}) refused "
            f"by the re-drive policy: {refusal}",
            letter.case_id,
        )
    return letter
