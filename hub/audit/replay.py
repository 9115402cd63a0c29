"""What an auditor reads from a case's audit entries: its timeline, per role.

``timeline`` orders a case's entries by seq (dropping exact redeliveries) and decrypts each
payload with the case key, or marks it ``ERASED`` when the key is gone. ``redact`` keeps only
the data categories a role may see, per a role → categories mapping derived from the consent
policy (``deploy/config/consent.yaml``). A stored entry the hub did not sign is left out
(``LogRecord.believed``; ``hub.audit.verify`` names it UNPROVEN): a forged entry is never shown
as a step of the case. The data-subject report is ``hub.audit.subject_report``; the terminal
rendering is in ``hub/cli/render_audit.py``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from hub.audit.keys import KeyStore, PayloadUnreadableError, decrypt_payload
from hub.audit.log_record import LogRecord, Position
from hub.contracts.enums import AgencyRole, AuditAction, DataCategory
from hub.contracts.hub_records import (
    AuditEntry,
)
from hub.rules.consent import ALL_CATEGORIES, ConsentPolicy


class PayloadState(StrEnum):
    """What became of an entry's personal payload when it was replayed."""

    NONE = "NONE"
    """The entry carried no personal data."""
    CLEAR = "CLEAR"
    """Decrypted with the case key."""
    ERASED = "ERASED"
    """The case key is destroyed (erasure): the data can never be read again."""
    UNREADABLE = "UNREADABLE"
    """The key exists but the ciphertext does not authenticate (altered)."""


@dataclass(frozen=True)
class TimelineRow:
    """One step of a case's history, with its personal data decrypted, erased or redacted."""

    seq: int
    recorded_at: datetime
    actor: str
    actor_role: AgencyRole
    action: AuditAction
    decision: str | None
    reason: str | None
    legal_basis: str | None
    recipient: str | None
    categories: tuple[DataCategory, ...]
    event_id: UUID | None
    payload: dict[str, Any] | None
    payload_state: PayloadState
    position: Position | None = None


def timeline(records: Iterable[AuditEntry | LogRecord], key_store: KeyStore) -> list[TimelineRow]:
    """A case's rows in seq order; exact duplicates (same seq and hash) appear once.

    Undecodable records and entries the hub did not sign are skipped here:
    ``hub.audit.verify.verify`` is what names them.
    """
    seen: set[tuple[int, bytes]] = set()
    located: list[tuple[AuditEntry, Position | None]] = []
    for entry, position in believed(records):
        if (entry.seq, entry.hash) in seen:
            continue
        seen.add((entry.seq, entry.hash))
        located.append((entry, position))
    located.sort(key=lambda pair: (pair[0].seq, pair[1].index if pair[1] else 0))
    keys: dict[str, bytes | None] = {}
    return [_row(entry, position, key_store, keys) for entry, position in located]


def believed(
    records: Iterable[AuditEntry | LogRecord],
) -> Iterator[tuple[AuditEntry, Position | None]]:
    """The entries a reader may show, with their position: a plain entry as given (the caller
    vouches for it), a stored record only when it decodes and the hub's signature is not
    refused."""
    for item in records:
        if not isinstance(item, LogRecord):
            yield item, None
        elif item.believed and item.entry is not None:
            yield item.entry, item.position


def left_out(records: Iterable[AuditEntry | LogRecord]) -> tuple[LeftOut, ...]:
    """The stored entries a reader leaves out because the hub did not sign them."""
    return tuple(
        LeftOut(item.entry.case_id, item.entry.seq, item.position, item.proof.detail or "")
        for item in records
        if isinstance(item, LogRecord) and item.entry is not None and item.proof.refused
    )


@dataclass(frozen=True)
class LeftOut:
    """An entry a reader did not believe (not signed by the hub): where it is, and why."""

    case_id: UUID
    seq: int
    position: Position
    detail: str


def _row(
    entry: AuditEntry,
    position: Position | None,
    key_store: KeyStore,
    keys: dict[str, bytes | None],
) -> TimelineRow:
    payload: dict[str, Any] | None = None
    state = PayloadState.NONE
    if entry.payload_ciphertext is not None:
        key_id = entry.key_id or ""
        if key_id not in keys:
            keys[key_id] = key_store.get(key_id) if key_id else None
        key = keys[key_id]
        if key is None:
            state = PayloadState.ERASED
        else:
            try:
                payload = decrypt_payload(
                    key, entry.payload_ciphertext, case_id=entry.case_id, seq=entry.seq
                )
                state = PayloadState.CLEAR
            except PayloadUnreadableError:
                state = PayloadState.UNREADABLE
    return TimelineRow(
        seq=entry.seq,
        recorded_at=entry.recorded_at,
        actor=entry.actor,
        actor_role=entry.actor_role,
        action=entry.action,
        decision=entry.decision,
        reason=entry.reason,
        legal_basis=entry.legal_basis,
        recipient=entry.recipient,
        categories=tuple(entry.categories),
        event_id=entry.event_id,
        payload=payload,
        payload_state=state,
        position=position,
    )


# ------------------------------------------------------------------------- role redaction


AUDITING_ROLES = frozenset({AgencyRole.NATIONAL_COORDINATION})
"""Roles that audit cases (national coordination, the rapporteur): they see every category."""


class AuditVisibility(BaseModel, frozen=True):
    """Which data categories each role may see when replaying a case; unlisted roles see none.

    Derived from the consent policy (``consent.yaml``), so a replay ``--as ROLE`` shows a role
    what the hub may ever share with it, never more: one source of truth for minimisation.
    """

    roles: dict[AgencyRole, frozenset[DataCategory]]

    def allowed(self, role: AgencyRole) -> frozenset[DataCategory]:
        """The categories ``role`` may see (none when the role is not listed)."""
        return self.roles.get(role, frozenset())

    @classmethod
    def from_policy(cls, policy: ConsentPolicy) -> AuditVisibility:
        """Each role sees the union of what it needs across message types (required and
        optional); auditing roles see everything."""
        roles: dict[AgencyRole, frozenset[DataCategory]] = {}
        for need in policy.needs:
            roles[need.recipient_role] = (
                roles.get(need.recipient_role, frozenset()) | need.required | need.optional
            )
        for role in AUDITING_ROLES:
            roles[role] = ALL_CATEGORIES
        return cls(roles=roles)


def redact(rows: Iterable[TimelineRow], allowed: Collection[DataCategory]) -> list[TimelineRow]:
    """The rows as a role allowed ``allowed`` categories sees them.

    Categories outside ``allowed`` are dropped from each payload *and* from each row's
    category list: knowing that health data was shared is itself health information.
    """
    visible = frozenset(allowed)
    tags = {category.tag for category in visible}
    redacted: list[TimelineRow] = []
    for row in rows:
        payload = (
            {tag: data for tag, data in row.payload.items() if tag in tags}
            if row.payload is not None
            else None
        )
        redacted.append(
            replace(
                row,
                categories=tuple(c for c in row.categories if c in visible),
                payload=payload,
            )
        )
    return redacted


# ------------------------------------------------------------------------- JSON


def _tags(categories: Iterable[DataCategory]) -> list[str]:
    return [category.tag for category in categories]


def _payload_json(row: TimelineRow) -> Any:
    if row.payload_state in (PayloadState.ERASED, PayloadState.UNREADABLE):
        return row.payload_state.value
    return row.payload


def timeline_json(rows: Iterable[TimelineRow]) -> list[dict[str, Any]]:
    """The rows as JSON-able dicts; an erased payload is the string ``"ERASED"``."""
    return [
        {
            "seq": row.seq,
            "recorded_at": row.recorded_at.isoformat(),
            "actor": row.actor,
            "actor_role": row.actor_role.value,
            "action": row.action.value,
            "decision": row.decision,
            "reason": row.reason,
            "legal_basis": row.legal_basis,
            "recipient": row.recipient,
            "categories": _tags(row.categories),
            "event_id": str(row.event_id) if row.event_id else None,
            "payload": _payload_json(row),
            "payload_state": row.payload_state.value,
            "position": str(row.position) if row.position else None,
        }
        for row in rows
    ]
