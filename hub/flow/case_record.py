"""A case state as the changelog stores it: routing metadata in clear, personal data sealed.

``nrm.state.cases`` keeps every case's latest state for as long as the case lives. What in it
is personal data — the facts learnt from the events (``CaseFacts``), the safety flags
(``Safety``), the person's pathway (``Pathway``: the rights information and choices), and the
held and open requests, whose ``record_json`` is the whole event — is
sealed under the case key (``hub.audit.sealing``). What the worker needs to keep a case
consistent after its key is gone stays in clear: status, consent, deadlines, the events seen,
who received which categories (the recipients an erasure notice must reach) and the audit
chain's head (so the chain never forks).

The value is JSON: ``{"format": FORMAT, "state": {clear fields}, "sealed": base64 | null}``.
A state written for a case whose key was destroyed has ``sealed: null``: the hub keeps no
personal data for an erased or expired case. A value without ``format`` is a state written
before sealing existed, read as it is.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from hub.audit.keys import KeyDestroyedError, KeyStore, PayloadUnreadableError
from hub.audit.sealing import Purpose, seal, unseal
from hub.flow.case_state import CaseState

FORMAT = "nrm.case-state.v2"
SEALED_FIELDS = frozenset({"facts", "safety", "holds", "requests", "pathway"})
"""The fields of ``CaseState`` that hold personal data (``pathway``: the rights the person
was told of and what they chose, e.g. to seek no residence permit)."""


class Personal(StrEnum):
    """What became of a stored state's personal data when it was read."""

    OPENED = "OPENED"
    """Unsealed with the case key."""
    GONE = "GONE"
    """The key is destroyed (or the state was written after): only the clear part is left."""
    UNREADABLE = "UNREADABLE"
    """The sealed part does not authenticate (altered): only the clear part is left."""
    LEGACY = "LEGACY"
    """A state written before sealing existed, all in clear."""


@dataclass(frozen=True)
class StoredState:
    """A state read from the changelog, and whether its personal data could be read."""

    state: CaseState
    personal: Personal


def encode_state(state: CaseState, key_store: KeyStore) -> bytes:
    """The changelog value of ``state``: its personal fields sealed under the case key."""
    clear = state.model_dump_json(exclude=set(SEALED_FIELDS))
    try:
        plaintext = state.model_dump_json(include=set(SEALED_FIELDS)).encode()
        blob = seal(key_store, state.case_id, Purpose.CASE_STATE, plaintext)
        sealed = f'"{base64.b64encode(blob).decode()}"'
    except KeyDestroyedError:
        sealed = "null"
    # Assembled as text: the clear part is already JSON (a second parse and dump cost more
    # than the sealing itself).
    return f'{{"format":"{FORMAT}","state":{clear},"sealed":{sealed}}}'.encode()


def decode_state(value: bytes, key_store: KeyStore) -> StoredState:
    """The state a changelog value holds; its personal fields left at their defaults when
    they cannot be unsealed. ``ValueError`` for a value that is not a case state at all."""
    document: Any = json.loads(value)
    if not isinstance(document, dict) or "format" not in document:
        return StoredState(CaseState.model_validate(document), Personal.LEGACY)
    if document["format"] != FORMAT:
        raise ValueError(f"unknown case state format {document['format']!r}")
    clear = document["state"]
    if not isinstance(clear, dict) or not SEALED_FIELDS.isdisjoint(clear):
        raise ValueError("the clear part of a case state holds sealed fields")
    if document.get("sealed") is None:
        return StoredState(CaseState.model_validate(clear), Personal.GONE)
    try:
        blob = base64.b64decode(document["sealed"], validate=True)
        plaintext = unseal(key_store, UUID(str(clear.get("case_id"))), Purpose.CASE_STATE, blob)
    except (PayloadUnreadableError, ValueError):
        return StoredState(CaseState.model_validate(clear), Personal.UNREADABLE)
    if plaintext is None:
        return StoredState(CaseState.model_validate(clear), Personal.GONE)
    personal = json.loads(plaintext)
    if not isinstance(personal, dict) or not set(personal) <= SEALED_FIELDS:
        return StoredState(CaseState.model_validate(clear), Personal.UNREADABLE)
    return StoredState(CaseState.model_validate({**clear, **personal}), Personal.OPENED)
