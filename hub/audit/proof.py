"""Whether the hub wrote an audit entry: its signature, checked against the hub's own keys.

The hash chain proves an entry was not altered after the next one was chained to it; it does
not prove who wrote it. Anyone who can append to ``nrm.audit`` can compute a valid hash, so
every stored entry must also carry the hub's signature (``nrm-sig`` headers, made by the one
writer, ``agents/io/outbox_writer.py``), over the exact stored key and value bytes.

This module is pure and knows nothing of cryptography: the check is a ``ProofCheck`` passed
in (``hub.audit`` and ``hub.trust`` are independent wings; the reader that assembles them,
``agents/audit_index/hub_proof.py``, binds ``hub.trust.verification`` to the hub's configured
public keys). ``verify`` names an entry that is not proven (``UNPROVEN``); ``timeline`` and
``subject_report`` leave it out. A plain ``AuditEntry`` (no stored record around it) is taken
as the caller vouches for it: only stored records carry a signature to check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

Headers = Sequence[tuple[str, bytes | None]] | None
"""A stored record's headers, as a consumer hands them over."""


class ProofState(StrEnum):
    """What is known of who wrote a stored entry."""

    PROVEN = "PROVEN"
    """Signed by one of the hub's configured keys, over these exact bytes."""
    UNPROVEN = "UNPROVEN"
    """Unsigned, signed by a key that is not the hub's, or altered since it was signed."""
    UNCHECKED = "UNCHECKED"
    """Read without a check (a plain entry, or a tool that opted out explicitly)."""


@dataclass(frozen=True)
class Proof:
    """The outcome of checking one stored entry's signature.

    Two audiences, two fields: ``detail`` is the operator's line, in French (``hub audit
    verify``, ``hub replay``, the dashboard); ``reason`` is the machine's, in English, as the
    signature check raised it (logs, bug reports).
    """

    state: ProofState
    key_id: str | None = None
    detail: str | None = None
    reason: str | None = None

    @classmethod
    def proven(cls, key_id: str | None) -> Proof:
        """Signed by the hub, with the key ``key_id``."""
        return cls(ProofState.PROVEN, key_id=key_id)

    @classmethod
    def unproven(cls, detail: str, reason: str | None = None) -> Proof:
        """Not proven: why, for the operator (French, one line), and for the machine."""
        return cls(ProofState.UNPROVEN, detail=detail, reason=reason)

    @property
    def refused(self) -> bool:
        """True when the entry must not be believed: readers leave it out."""
        return self.state is ProofState.UNPROVEN


UNCHECKED = Proof(ProofState.UNCHECKED)


class ProofCheck(Protocol):
    """Checks that the hub signed a stored audit record (its Kafka key, value and headers).

    Never raises for a bad signature: returns ``Proof.unproven`` with the reason.
    """

    def __call__(self, key: bytes | None, value: bytes | None, headers: Headers) -> Proof: ...


def no_proof(key: bytes | None, value: bytes | None, headers: Headers) -> Proof:
    """A check that checks nothing (``UNCHECKED``): for tools and tests that say so."""
    return UNCHECKED
