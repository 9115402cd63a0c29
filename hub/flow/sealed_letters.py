"""Dead letters keep the refused record's bytes sealed under the case key.

A dead letter carries the original record so that an operator can re-drive it once the cause
is fixed; that record is a whole event (identity, health, exploitation details). When the case
is known, ``seal_letter`` replaces the original bytes by a blob sealed under the case key
(``hub.audit.sealing``); a re-drive carries the dead letter as it is, and the worker that
handles it opens the blob again (``open_original``). Destroying the case key therefore makes
the copies on ``nrm.deadletters`` and ``nrm.redrive`` unreadable with every other copy.

A record whose case is unknown (corrupt bytes, no readable envelope) has no key to seal it
under: it stays in clear, and the dead-letter topic's short retention
(``deploy/config/retention.yaml``) is what limits how long it is kept. A record of a case whose
key is already destroyed keeps no original at all.

The Avro contract is unchanged: ``original`` holds either the record's bytes or a sealed blob,
told apart by the blob's magic prefix; only a letter with a ``case_id`` is ever sealed.
"""

from __future__ import annotations

from hub.audit.keys import KeyDestroyedError, KeyStore, PayloadUnreadableError
from hub.audit.sealing import Purpose, is_sealed, seal, unseal
from hub.contracts.hub_records import (
    DeadLetter,
)

ERASED_NOTE = "original not kept: the case's key is destroyed"
MAX_ORIGINAL_BYTES = 256 * 1024
"""An oversize record's bytes are cut to this in its dead letter (which must itself fit)."""
CUT_NOTE = f"(original cut to its first {MAX_ORIGINAL_BYTES} bytes)"
"""What the detail of a letter whose original was cut ends with (``hub.flow.dead_letters``)."""


class OriginalUnavailableError(LookupError):
    """A dead letter's original cannot be read back (its key is gone, or it was altered)."""


def seal_letter(letter: DeadLetter, key_store: KeyStore) -> DeadLetter:
    """``letter`` with its original sealed under the case key (unchanged when the case is
    unknown, nothing is left to seal, or it is sealed already)."""
    if letter.case_id is None or not letter.original or is_sealed(letter.original):
        return letter
    try:
        sealed = seal(key_store, letter.case_id, Purpose.DEAD_LETTER, letter.original)
    except KeyDestroyedError:
        return letter.model_copy(
            update={"original": b"", "detail": f"{letter.detail[:1900]} ({ERASED_NOTE})"}
        )
    return letter.model_copy(update={"original": sealed})


def is_sealed_letter(letter: DeadLetter) -> bool:
    """Whether the letter's original is a sealed blob."""
    return letter.case_id is not None and is_sealed(letter.original)


def open_original(letter: DeadLetter, key_store: KeyStore | None) -> bytes:
    """The original record's bytes, unsealed when they were sealed.

    ``OriginalUnavailableError`` when the key is destroyed (or no key store is given) or the
    blob does not authenticate.
    """
    if not is_sealed_letter(letter):
        return letter.original
    assert letter.case_id is not None
    if key_store is None:
        raise OriginalUnavailableError("sealed original and no key store to open it")
    try:
        original = unseal(key_store, letter.case_id, Purpose.DEAD_LETTER, letter.original)
    except PayloadUnreadableError as exc:
        raise OriginalUnavailableError(f"sealed original unreadable: {exc}") from None
    if original is None:
        raise OriginalUnavailableError("the case's key is destroyed: the original is erased")
    return original
