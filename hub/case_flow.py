"""The routing decision for one inbound event: a pure function of the case state.

``handle(state, inbound, context, now)`` validates what the sender may say, updates the
case's consent and facts, selects recipients, asks the consent policy what each may see, and
returns an ``Outcome``: the new state, the projections to deliver, the audit notes, or the
refusal that becomes a dead letter. It performs no I/O; the worker carries the outcome out.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from hub.case_state import (
    SEEN_WINDOW,
    CaseFacts,
    CaseState,
    Held,
    OpenRequest,
    Received,
    Safety,
    Seen,
)
from hub.consent import ConsentGap, ConsentPolicy, Share, decide_sharing
from hub.directory import Agency, Directory
from hub.event_types import (
    AgencyRole,
    AuditAction,
    DataCategory,
    DeadLetterReason,
    ExploitationType,
    Gender,
    SafeChannel,
    Urgency,
)
from hub.events import EVENT_MODELS, ConsentGiven, ConsentWithdrawn, SafetyFlagsSet
from hub.projection import Projector, categories_present, personal_data
from hub.routing import (
    RecipientRule,
    RouteFacts,
    RoutingRules,
    Selection,
    candidates,
    facts_of,
)

DELIVERY_NAMESPACE = uuid.UUID("5b3c1f0e-8c0a-4f7e-9d61-6e726d687562")
SAFE_CHANNEL_HEADER = "nrm-safe-channel"
CHANNEL_ROLES: Mapping[SafeChannel, AgencyRole] = {
    SafeChannel.VIA_SUPPORT_ASSOCIATION: AgencyRole.SUPPORT_ASSOCIATION,
    SafeChannel.VIA_ACCOMMODATION_PROVIDER: AgencyRole.ACCOMMODATION_PROVIDER,
}
CONSENT_GIVEN = "fr.nrm.ConsentGiven"
CONSENT_WITHDRAWN = "fr.nrm.ConsentWithdrawn"
SAFETY_FLAGS = "fr.nrm.SafetyFlagsSet"
ACKNOWLEDGEMENT = "fr.nrm.Acknowledgement"
REFERRAL_OPENED = "fr.nrm.ReferralOpened"
VICTIM_REPORT = "fr.nrm.PresumedVictimReport"


@dataclass(frozen=True)
class Inbound:
    """A decoded, validated record read from an agency's outbox."""

    subject: str
    record: Mapping[str, Any]
    event: BaseModel
    sender: Agency
    topic: str
    partition: int
    offset: int
    timestamp: datetime
    digest: str
    frame: bytes = b""

    @property
    def envelope(self) -> Mapping[str, Any]:
        """The event's envelope."""
        envelope: Mapping[str, Any] = self.record["envelope"]
        return envelope

    @property
    def event_id(self) -> uuid.UUID:
        """The event id the sender chose."""
        return uuid.UUID(str(self.envelope["event_id"]))


@dataclass(frozen=True)
class Context:
    """Everything a decision reads besides the case: directory, rules, policy, schemas."""

    directory: Directory
    rules: RoutingRules
    consent: ConsentPolicy
    projector: Projector


@dataclass(frozen=True)
class Deliver:
    """A projection to write to one agency's inbox."""

    recipient: Agency
    subject: str
    record: dict[str, Any]
    categories: frozenset[DataCategory]
    basis: str
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def event_id(self) -> uuid.UUID:
        """The delivered record's own event id (derived, so redelivery keeps it)."""
        return uuid.UUID(str(self.record["envelope"]["event_id"]))


@dataclass(frozen=True)
class Refusal:
    """Why an inbound record is a dead letter."""

    reason: DeadLetterReason
    detail: str


@dataclass(frozen=True)
class AuditNote:
    """One thing that happened to the case, for the audit trail."""

    action: AuditAction
    decision: str
    reason: str | None = None
    legal_basis: str | None = None
    recipient: str | None = None
    categories: frozenset[DataCategory] = frozenset()
    payload: dict[str, dict[str, Any]] | None = None


@dataclass(frozen=True)
class Outcome:
    """What to do about one inbound event."""

    state: CaseState
    deliveries: tuple[Deliver, ...] = ()
    audit: tuple[AuditNote, ...] = ()
    refusal: Refusal | None = None
    duplicate: bool = False
    opened: tuple[OpenRequest, ...] = field(default_factory=tuple)


def digest_of(frame: bytes) -> str:
    """A short digest of a record's bytes, to tell a redelivery from a reused event id."""
    return hashlib.sha256(frame).hexdigest()[:32]


def handle(state: CaseState, inbound: Inbound, ctx: Context, now: datetime) -> Outcome:
    """Decide what happens to ``inbound`` given the case ``state``."""
    earlier = state.seen_event(inbound.event_id)
    if earlier is not None:
        return _repeat(state, inbound, earlier)
    refusal = _refusal(inbound, ctx)
    if refusal is not None:
        return Outcome(
            state=_remember(state, inbound),
            refusal=refusal,
            audit=(AuditNote(AuditAction.DEAD_LETTERED, "refused", reason=refusal.reason.value),),
        )
    state = _remember(state, inbound)
    received = AuditNote(
        AuditAction.RECEIVED,
        f"received {inbound.subject} from {inbound.sender.id}",
        payload=personal_data(inbound.record, ctx.projector.tree(inbound.subject)) or None,
    )
    if inbound.subject == CONSENT_GIVEN:
        outcome = _consent_given(state, inbound, ctx, now)
    elif inbound.subject == CONSENT_WITHDRAWN:
        outcome = _consent_withdrawn(state, inbound, ctx)
    elif inbound.subject == SAFETY_FLAGS:
        outcome = _safety(state, inbound)
    elif inbound.subject == ACKNOWLEDGEMENT:
        outcome = _acknowledgement(state, inbound, ctx)
    else:
        outcome = _route(state, inbound, ctx, now)
    if outcome.refusal is not None:
        return outcome
    return Outcome(
        state=outcome.state,
        deliveries=outcome.deliveries,
        audit=(received, *outcome.audit),
        opened=outcome.opened,
    )


def _repeat(state: CaseState, inbound: Inbound, earlier: Seen) -> Outcome:
    """An event id seen before: a redelivery is dropped, anything else is refused."""
    if (earlier.topic, earlier.partition, earlier.offset) == (
        inbound.topic,
        inbound.partition,
        inbound.offset,
    ):
        return Outcome(state=state, duplicate=True)
    if earlier.digest == inbound.digest:
        return Outcome(
            state=state,
            refusal=Refusal(
                DeadLetterReason.REPLAYED,
                f"event {inbound.event_id} was already handled from {earlier.topic}"
                f"[{earlier.partition}]@{earlier.offset}; the copy is not routed again",
            ),
        )
    return Outcome(
        state=state,
        refusal=Refusal(
            DeadLetterReason.SEMANTIC_VIOLATION,
            f"event id {inbound.event_id} was already used by a different event",
        ),
    )


def _remember(state: CaseState, inbound: Inbound) -> CaseState:
    seen = Seen(
        event_id=inbound.event_id,
        topic=inbound.topic,
        partition=inbound.partition,
        offset=inbound.offset,
        digest=inbound.digest,
    )
    return state.model_copy(update={"seen": (*state.seen, seen)[-SEEN_WINDOW:]})


def _refusal(inbound: Inbound, ctx: Context) -> Refusal | None:
    """What the sender may not say: another sender's name, a type it may not publish."""
    envelope = inbound.envelope
    claimed, claimed_role = envelope.get("sender"), envelope.get("sender_role")
    if claimed is not None and claimed != inbound.sender.id:
        return Refusal(
            DeadLetterReason.SPOOFED_SENDER,
            f"envelope names sender {claimed!r} but the record came from "
            f"{inbound.sender.id}'s outbox",
        )
    if claimed_role is not None and claimed_role != inbound.sender.role.value:
        return Refusal(
            DeadLetterReason.SPOOFED_SENDER,
            f"envelope names role {claimed_role} but {inbound.sender.id} is "
            f"{inbound.sender.role.value}",
        )
    rule = ctx.rules.for_type(inbound.subject)
    if rule is None:
        return Refusal(
            DeadLetterReason.SEMANTIC_VIOLATION,
            f"agencies do not publish {inbound.subject}; only the hub emits it",
        )
    identifying = ctx.rules.identifying_roles
    claims_identification = inbound.subject == REFERRAL_OPENED or bool(
        inbound.record.get("claims_formal_identification")
    )
    if claims_identification and inbound.sender.role not in identifying:
        return Refusal(
            DeadLetterReason.NOT_AN_IDENTIFYING_AUTHORITY,
            f"{inbound.sender.id} ({inbound.sender.role.value}) may not formally "
            "identify a victim: only " + ", ".join(sorted(r.value for r in identifying)) + " may",
        )
    if rule.senders is not None and inbound.sender.role not in rule.senders:
        return Refusal(
            DeadLetterReason.SEMANTIC_VIOLATION,
            f"{inbound.sender.role.value} may not send {inbound.subject}",
        )
    return None


def _route(state: CaseState, inbound: Inbound, ctx: Context, now: datetime) -> Outcome:
    rule = ctx.rules.for_type(inbound.subject)
    assert rule is not None
    facts = facts_of(inbound.record, _route_facts(state.facts))
    state = state.model_copy(update={"facts": _case_facts(facts)})
    deliveries: list[Deliver] = []
    holds: list[Held] = []
    notes: list[AuditNote] = []
    opened: list[OpenRequest] = []
    for recipient_rule in rule.recipients:
        chosen = candidates(recipient_rule, facts, ctx.directory, ctx.rules)
        every = recipient_rule.select is Selection.ALL_IN_DEPARTEMENT
        targets = chosen if every else chosen[:1]
        if not targets and not recipient_rule.only_minors:
            notes.append(
                AuditNote(
                    AuditAction.REFUSED,
                    "no eligible agency",
                    reason=DeadLetterReason.NO_ELIGIBLE_RECIPIENT.value,
                    recipient=recipient_rule.role.value,
                )
            )
        for agency in targets:
            decision = _share(state, inbound.subject, agency, ctx, now)
            if isinstance(decision, ConsentGap):
                holds.append(_held(inbound, agency, decision, now))
                notes.append(
                    AuditNote(
                        AuditAction.HELD,
                        "held until consent covers the required categories",
                        reason="missing consent: "
                        + ", ".join(sorted(c.value for c in decision.missing)),
                        recipient=agency.id,
                        categories=decision.missing,
                    )
                )
            else:
                delivery = _deliver(
                    inbound.subject,
                    inbound.record,
                    inbound.sender,
                    agency,
                    decision,
                    state.safety,
                    ctx,
                )
                deliveries.append(delivery)
                notes.append(_routed(delivery))
            if recipient_rule.needs_answer:
                opened.append(_open_request(inbound, agency, recipient_rule, now))
    if not deliveries and not holds:
        return Outcome(
            state=state,
            refusal=Refusal(
                DeadLetterReason.NO_ELIGIBLE_RECIPIENT,
                f"no agency in the directory can receive {inbound.subject} for département "
                f"{facts.departement}",
            ),
        )
    state = state.model_copy(
        update={
            "holds": (*state.holds, *holds),
            "received": (*state.received, *(_received(d, now) for d in deliveries)),
            "requests": (*state.requests, *opened),
        }
    )
    return Outcome(
        state=state, deliveries=tuple(deliveries), audit=tuple(notes), opened=tuple(opened)
    )


def _share(
    state: CaseState, subject: str, agency: Agency, ctx: Context, now: datetime
) -> Share | ConsentGap:
    return decide_sharing(
        ctx.consent,
        state.consent,
        message_type=subject,
        role=agency.role,
        minor=state.facts.minor,
        now=now,
    )


def _deliver(
    subject: str,
    record: Mapping[str, Any],
    source: Agency,
    recipient: Agency,
    share: Share,
    safety: Safety,
    ctx: Context,
) -> Deliver:
    """The projection of ``record`` for ``recipient``, with the hub-set sender."""
    allowed = share.allowed
    headers: tuple[tuple[str, bytes], ...] = ()
    if safety.do_not_contact:
        allowed -= {DataCategory.CONTACT}
    if safety.safe_channel is not None:
        headers = ((SAFE_CHANNEL_HEADER, safety.safe_channel.value.encode()),)
        if CHANNEL_ROLES.get(safety.safe_channel) is not recipient.role:
            allowed -= {DataCategory.CONTACT}
    projected = ctx.projector.project(subject, record, allowed)
    envelope = dict(record["envelope"])
    original_id = uuid.UUID(str(envelope["event_id"]))
    envelope.update(
        event_id=uuid.uuid5(DELIVERY_NAMESPACE, f"{original_id}/{recipient.id}"),
        causation_id=original_id,
        correlation_id=envelope.get("correlation_id") or envelope["case_id"],
        sender=source.id,
        sender_role=source.role.value,
    )
    projected["envelope"] = envelope
    present = categories_present(projected, ctx.projector.tree(subject))
    return Deliver(
        recipient=recipient,
        subject=subject,
        record=projected,
        categories=present,
        basis=share.basis,
        headers=headers,
    )


def _routed(delivery: Deliver) -> AuditNote:
    return AuditNote(
        AuditAction.ROUTED,
        f"delivered {delivery.subject}",
        legal_basis=delivery.basis,
        recipient=delivery.recipient.id,
        categories=delivery.categories,
    )


def _received(delivery: Deliver, now: datetime) -> Received:
    return Received(
        recipient=delivery.recipient.id,
        role=delivery.recipient.role,
        subject=delivery.subject,
        event_id=delivery.event_id,
        categories=delivery.categories,
        at=now,
    )


def _held(inbound: Inbound, agency: Agency, gap: ConsentGap, now: datetime) -> Held:
    return Held(
        event_id=inbound.event_id,
        subject=inbound.subject,
        sender=inbound.sender.id,
        recipient=agency.id,
        role=agency.role,
        missing=gap.missing,
        held_at=now,
        record_json=inbound.event.model_dump_json(),
    )


def _open_request(
    inbound: Inbound, agency: Agency, rule: RecipientRule, now: datetime
) -> OpenRequest:
    request_id = inbound.record.get("request_id") or inbound.envelope["event_id"]
    return OpenRequest(
        request_id=uuid.UUID(str(request_id)),
        subject=inbound.subject,
        requester=inbound.sender.id,
        recipient=agency.id,
        role=rule.role,
        opened_at=now,
        record_json=inbound.event.model_dump_json(),
    )


def _consent_given(state: CaseState, inbound: Inbound, ctx: Context, now: datetime) -> Outcome:
    """Record consent, then release every held message it now covers."""
    assert isinstance(inbound.event, ConsentGiven)
    state = state.model_copy(update={"consent": state.consent.given(inbound.event)})
    notes = [
        AuditNote(
            AuditAction.CONSENT_RECORDED,
            "consent recorded",
            legal_basis=f"consent:{inbound.event.consent_id}",
            categories=frozenset(inbound.event.categories),
            reason="roles: " + ", ".join(r.value for r in inbound.event.recipient_roles),
        )
    ]
    deliveries: list[Deliver] = []
    still_held: list[Held] = []
    for held in state.holds:
        agency = ctx.directory.get(held.recipient)
        source = ctx.directory.get(held.sender)
        decision = _share(state, held.subject, agency, ctx, now) if agency else None
        if agency is None or source is None or not isinstance(decision, Share):
            still_held.append(held)
            continue
        record = EVENT_MODELS[held.subject].model_validate_json(held.record_json).model_dump()
        delivery = _deliver(held.subject, record, source, agency, decision, state.safety, ctx)
        deliveries.append(delivery)
        notes.append(
            AuditNote(
                AuditAction.RELEASED,
                f"released {held.subject} on consent",
                legal_basis=delivery.basis,
                recipient=agency.id,
                categories=delivery.categories,
            )
        )
    state = state.model_copy(
        update={
            "holds": tuple(still_held),
            "received": (*state.received, *(_received(d, now) for d in deliveries)),
        }
    )
    return Outcome(state=state, deliveries=tuple(deliveries), audit=tuple(notes))


def _consent_withdrawn(state: CaseState, inbound: Inbound, ctx: Context) -> Outcome:
    """Stop all later sharing at once, cancel held messages, notify earlier recipients."""
    assert isinstance(inbound.event, ConsentWithdrawn)
    consent, withdrawal = state.consent.withdrawn(inbound.event)
    notes = [
        AuditNote(
            AuditAction.CONSENT_WITHDRAWN,
            "consent withdrawn",
            categories=withdrawal.categories,
            reason="roles: " + ", ".join(sorted(r.value for r in withdrawal.roles)),
        )
    ]
    notes += [
        AuditNote(
            AuditAction.CANCELLED,
            f"held {h.subject} cancelled by withdrawal",
            recipient=h.recipient,
        )
        for h in state.holds
    ]
    exposed: dict[str, set[DataCategory]] = {}
    for received in state.received:
        if received.role in withdrawal.roles:
            exposed.setdefault(received.recipient, set()).update(
                received.categories & withdrawal.categories
            )
    deliveries = []
    for recipient_id, categories in sorted(exposed.items()):
        agency = ctx.directory.get(recipient_id)
        if agency is None or not categories:
            continue
        notice = inbound.event.model_copy(
            update={
                "categories": tuple(sorted(categories)),
                "recipient_roles": (agency.role,),
            }
        )
        delivery = _deliver(
            CONSENT_WITHDRAWN,
            notice.model_dump(),
            inbound.sender,
            agency,
            Share(frozenset(), "withdrawal notice"),
            state.safety,
            ctx,
        )
        deliveries.append(delivery)
        notes.append(
            AuditNote(
                AuditAction.ROUTED,
                "withdrawal notice: stop using these data",
                recipient=agency.id,
                categories=frozenset(categories),
            )
        )
    state = state.model_copy(update={"consent": consent, "holds": ()})
    return Outcome(state=state, deliveries=tuple(deliveries), audit=tuple(notes))


def _safety(state: CaseState, inbound: Inbound) -> Outcome:
    assert isinstance(inbound.event, SafetyFlagsSet)
    channel = inbound.event.safe_channel
    safety = Safety(
        do_not_contact=inbound.event.do_not_contact,
        safe_channel=None if channel.value == "UNKNOWN" else channel,
    )
    return Outcome(
        state=state.model_copy(update={"safety": safety}),
        audit=(
            AuditNote(
                AuditAction.CASE_TRANSITION,
                "safety flags set",
                reason=f"do_not_contact={safety.do_not_contact}, "
                f"safe_channel={safety.safe_channel}",
            ),
        ),
    )


def _acknowledgement(state: CaseState, inbound: Inbound, ctx: Context) -> Outcome:
    """An answer counts only from the agency the request went to; it goes to the requester."""
    request_id = uuid.UUID(str(inbound.record["request_id"]))
    request = state.request(request_id)
    if request is None:
        return Outcome(
            state=state,
            refusal=Refusal(
                DeadLetterReason.UNKNOWN_REQUEST, f"no open request {request_id} in this case"
            ),
        )
    if request.recipient != inbound.sender.id:
        return Outcome(
            state=state,
            refusal=Refusal(
                DeadLetterReason.WRONG_RESPONDER,
                f"request {request_id} went to {request.recipient}, not {inbound.sender.id}",
            ),
        )
    requester = ctx.directory.get(request.requester)
    notes = [
        AuditNote(
            AuditAction.ACKNOWLEDGED,
            f"acknowledgement {inbound.record['status']}",
            reason=inbound.record.get("decline_reason"),
            recipient=request.requester,
        )
    ]
    deliveries: tuple[Deliver, ...] = ()
    if requester is not None:
        deliveries = (
            _deliver(
                ACKNOWLEDGEMENT,
                inbound.record,
                inbound.sender,
                requester,
                Share(frozenset(), "no personal data"),
                state.safety,
                ctx,
            ),
        )
    return Outcome(state=state, deliveries=deliveries, audit=tuple(notes))


def _route_facts(facts: CaseFacts) -> RouteFacts:
    return RouteFacts(
        departement=facts.departement,
        exploitation_types=facts.exploitation_types,
        minor=facts.minor,
        urgency=facts.urgency,
        immediate_danger=facts.immediate_danger,
        gender=facts.gender,
    )


def _case_facts(facts: RouteFacts) -> CaseFacts:
    return CaseFacts(
        departement=facts.departement,
        exploitation_types=frozenset(ExploitationType(t) for t in facts.exploitation_types),
        minor=facts.minor,
        urgency=Urgency(facts.urgency),
        immediate_danger=facts.immediate_danger,
        gender=Gender(facts.gender) if facts.gender else None,
    )
