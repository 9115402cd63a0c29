"""Retention expiry: a case's personal data is shredded a set period after its last contact,
decided by the worker that owns the case, in order on its partition.

**What counts as a contact**: an event an agency sent about the case (any outbox record, or
the gateway's, that passed ingest and was accepted for the case: a report, a request, an
answer, a consent, a closure). The hub's own acts (deadline ticks, escalations, operators'
commands on ``nrm.erasure``) are not contacts, nor is a refused record (it changed nothing).
Its instant is the hub's clock when it accepted the event (``CaseState.last_contact_at``), not
the record's timestamp, which its producer sets. The CNIL's référentiel for social support
(délibération n° 2023-095) counts "2 ans à compter du dernier contact avec la personne";
the hub never meets the person, the agencies do, so their last word on the case is the
nearest measure it has (docs/LAW.md RE-6).

``hub retention run`` finds the cases due (``verdict`` over every case state) and writes a
``RetentionExpiry`` per case to ``nrm.erasure``; ``expire`` decides it again here, on the
worker's clock, which no command can move: a run whose clock was set ahead (``HUB_CLOCK_START``)
expires nothing early. Then the legal holds (``hub.rules.holds``; a restricted case keeps the
holds of its restriction); then the key is destroyed, every recipient told (RGPD art. 19: the
erasure of data "no longer necessary", art. 17(1)(a)), and the ``ERASED`` entry says
"expired under the retention schedule". A case already erased is left alone: a second run, or
a second command, expires nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.contracts.enums import AuditAction, DataCategory, ErasureOutcome
from hub.contracts.erasure_events import RetentionExpiry
from hub.contracts.topics import ERASURE
from hub.flow.case_state import CaseState, topic_crc
from hub.flow.decisions import AuditNote, Context, Outcome
from hub.flow.erasure import hold_facts, notices, tombstone
from hub.rules.holds import HoldPolicy, holds_on

EXPIRED = "expired under the retention schedule"
"""The decision of the ERASED entry an expiry writes (what replay shows)."""
RETENTION_BASIS = "RGPD art. 5(1)(e), art. 17(1)(a)"
EXPIRY_NOTICE_BASIS = "RGPD art. 17(1)(a), art. 19"
_ERASURE_CRC = topic_crc(ERASURE.name)


@dataclass(frozen=True)
class Due:
    """The case's personal data is kept past its period: expire it."""

    last_contact: datetime


@dataclass(frozen=True)
class NotDue:
    """Not yet (or no contact known): ``why`` in words for the chain and the operator."""

    why: str


@dataclass(frozen=True)
class Held:
    """Due, but a legal hold keeps the data (RGPD art. 17(3)): the holds' ids."""

    holds: tuple[str, ...]
    last_contact: datetime


@dataclass(frozen=True)
class Gone:
    """Already erased (on request or by an earlier expiry): nothing left to expire."""


Verdict = Due | NotDue | Held | Gone


def last_contact(state: CaseState) -> datetime | None:
    """The case's last contact. A state written before the hub kept it counts from its most
    recent remembered agency event (the record's time); None when nothing is known."""
    if state.last_contact_at is not None:
        return state.last_contact_at
    times = [s.at for s in state.seen_events() if s.at is not None and s.topic_crc != _ERASURE_CRC]
    return max(times, default=None)


def verdict(
    state: CaseState, now: datetime, period: timedelta | None, policy: HoldPolicy
) -> Verdict:
    """Whether ``state``'s personal data expires at ``now`` under ``period``."""
    if state.erased_at is not None:
        return Gone()
    if period is None:
        return NotDue("no retention period configured")
    contact = last_contact(state)
    if contact is None:
        return NotDue("no contact recorded")
    if now - contact < period:
        return NotDue(f"last contact {contact:%Y-%m-%d}, due {contact + period:%Y-%m-%d}")
    if state.restricted is not None:
        return Held(state.restricted.holds, contact)
    holds = holds_on(hold_facts(state), (), policy)
    return Held(holds, contact) if holds else Due(contact)


def expire(state: CaseState, event: RetentionExpiry, ctx: Context, now: datetime) -> Outcome:
    """Apply a ``RetentionExpiry`` read from ``nrm.erasure``: shred the case if it is due on
    this worker's clock and no hold applies, else record why not."""
    found = verdict(state, now, ctx.retention_period, ctx.holds)
    if isinstance(found, Gone):
        return Outcome(state=state, duplicate=True)
    if isinstance(found, NotDue):
        note = AuditNote(AuditAction.REFUSED, "retention expiry refused", reason=found.why)
        return Outcome(state=state, audit=(note,))
    if isinstance(found, Held):
        note = AuditNote(
            AuditAction.REFUSED,
            "retention expiry deferred: legal hold",
            reason=", ".join(found.holds),
            legal_basis="RGPD art. 17(3)",
        )
        return Outcome(state=state, audit=(note,))
    sent, notice_notes = notices(
        state, event.run_id, ErasureOutcome.ERASED, (), ctx, now, EXPIRY_NOTICE_BASIS
    )
    categories = frozenset(c for r in state.received for c in r.categories) - {DataCategory.UNKNOWN}
    days = ctx.retention_period.days if ctx.retention_period else 0
    notes = (
        *notice_notes,
        AuditNote(
            AuditAction.ERASED,
            EXPIRED,
            reason=f"last contact {found.last_contact:%Y-%m-%d}, kept {days} days",
            legal_basis=RETENTION_BASIS,
            categories=categories,
        ),
    )
    closed = tuple(d.deadline_id for d in state.open_deadlines())
    return Outcome(
        state=tombstone(state, now),
        deliveries=sent,
        audit=notes,
        closed=closed,
        destroy_key=True,
    )
