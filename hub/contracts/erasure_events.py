"""The commands of ``nrm.erasure`` and the notice they end in: erasure requests, approvals and
rejections (``hub erase``), retention expiries (``hub retention run``), the lifting of a
restriction; and the ``ErasureNotice`` every recipient of the case is sent (RGPD art. 19).

Every command is signed by the hub, keyed by its case, and applied by the routing worker that
owns the case, in order with the case's other events (``hub.flow.erasure``,
``hub.flow.expiry``). Registered with the other events in ``hub.contracts.events``.
"""

from uuid import UUID

from hub.contracts.enums import DataCategory, ErasureOutcome, Seq, UtcMillis
from hub.contracts.envelope import Event


class ErasureRequested(Event):
    """An operator asks that a case's personal data be erased (``hub erase request``)."""

    request_id: UUID
    requested_by: str
    reason: str


class ErasureApproved(Event):
    """A data-protection officer approves a pending erasure request (``hub erase approve``)."""

    request_id: UUID
    approved_by: str
    declared_holds: Seq[str] = ()


class ErasureRejected(Event):
    """A data-protection officer rejects a pending erasure request (``hub erase reject``)."""

    request_id: UUID
    rejected_by: str
    reason: str


class RetentionExpiry(Event):
    """The retention run asks the worker to expire a case whose last contact is older than the
    schedule's period (``hub retention run``); the worker checks again on its own clock."""

    run_id: UUID
    last_contact_at: UtcMillis


class RestrictionLifted(Event):
    """A data-protection officer lifts a case's restriction once the person was told
    (RGPD art. 18(3), ``hub erase lift``)."""

    request_id: UUID
    lifted_by: str
    reason: str
    person_informed_at: UtcMillis


class ErasureNotice(Event):
    """To each agency that received data of the case: erased, restricted, or restriction
    lifted (RGPD art. 19)."""

    request_id: UUID
    outcome: ErasureOutcome
    categories: Seq[DataCategory] = ()
    holds: Seq[str] = ()
    legal_basis: str
