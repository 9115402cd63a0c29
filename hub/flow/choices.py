"""The person's own steps on the pathway: the rights information they were given, their
recorded choice, and what an agency may ask the prefecture on their behalf.

- ``RightsInformationGiven`` is kept in the case (which rights, which language, by whom) and
  audited; it is not forwarded.
- ``PathwayChoiceRecorded`` must follow a recorded information that covered every route it
  asks for (R425-2: the person "à qui [la police] fournit les informations … et qui
  choisit"). It alone makes the hub raise a
  ``PermitRequested`` — the reflection period's récépissé when chosen, the document of the
  route chosen — each once, through the consent gate: without consent covering identity and
  immigration status for the prefecture it is held, never sent. A person outside the
  victim-permit route (French, EU, EEA or Swiss national: ``hub.rules.nationality``) gets a
  clear refusal, ``NOT_IN_PERMIT_ROUTE``. Accommodation and support wanted are raised when not
  yet raised; a choice without them closes nothing.
- An agency's own ``PermitRequested`` is refused for a person outside the permit route, and
  unless the person's latest recorded choice asks for that very document (``NOT_CHOSEN``): no
  choice yet, a choice that declined every document, or one that asked for another.
- A report raises the assistance its assessed needs call for at once (``hub.flow.pathway``).
"""

from __future__ import annotations

from datetime import datetime

from hub.contracts.enums import AuditAction, DeadLetterReason, PermitType
from hub.contracts.events import (
    PathwayChoiceRecorded,
    PermitRequested,
    Person,
    PresumedVictimReport,
    ReferralOpened,
    RightsInformationGiven,
)
from hub.flow.case_state import CaseState, Informed
from hub.flow.decisions import AuditNote, Context, Inbound, Outcome, Refusal
from hub.flow.pathway import assistance, opened, outcome_of, permit_request, with_pathway
from hub.flow.routing_flow import route
from hub.rules.nationality import Route, permit_route

INFORMED_KEPT = 16
"""At most this many rights-information event ids per case (a choice refers to a recent one)."""


def report(state: CaseState, inbound: Inbound, ctx: Context, now: datetime) -> Outcome:
    """Route the report to the competent authorities, and raise the assistance its needs call
    for at once: no identification is waited for (Dir. 2011/36 art. 11(2)-(3))."""
    event = inbound.event
    assert isinstance(event, PresumedVictimReport)
    routed = route(state, inbound.subject, inbound.record, event, inbound.sender, ctx, now)
    if routed.refusal is not None:
        return routed
    helped = assistance(
        routed.state,
        event.envelope.event_id,
        event.accommodation_needs,
        event.support_needed,
        event.departement,
        event.person,
        inbound.sender,
        ctx,
        now,
    )
    return outcome_of(helped.state, [routed, helped])


def referral(state: CaseState, inbound: Inbound, ctx: Context, now: datetime) -> Outcome:
    """A formal identification sent as a referral opens the pathway like a decision."""
    event = inbound.event
    assert isinstance(event, ReferralOpened)
    routed = route(state, inbound.subject, inbound.record, event, inbound.sender, ctx, now)
    if routed.refusal is not None:
        return routed
    stage = opened(routed.state, "IDENTIFIED", (), ctx, now)
    return outcome_of(stage.state, [routed, stage])


def information(state: CaseState, inbound: Inbound) -> Outcome:
    """Keep the rights information in the case and audit what was said, in which language,
    by whom (no personal data in the note)."""
    event = inbound.event
    assert isinstance(event, RightsInformationGiven)
    given = Informed(event_id=event.envelope.event_id, topics=frozenset(event.topics))
    informed = (*state.pathway.informed, given)[-INFORMED_KEPT:]
    note = AuditNote(
        AuditAction.CASE_TRANSITION,
        "rights information given",
        reason=f"{', '.join(t.value for t in event.topics)}; language {event.language}"
        + ("; with interpreter" if event.interpreter else "")
        + f"; by {event.given_by_role.value}",
        legal_basis="CESEDA R425-1; Dir. 2011/36 art. 11(6)",
    )
    return Outcome(state=with_pathway(state, informed=informed), audit=(note,))


def choice(state: CaseState, inbound: Inbound, ctx: Context, now: datetime) -> Outcome:
    """Record the person's choice and raise what it asks for."""
    event = inbound.event
    assert isinstance(event, PathwayChoiceRecorded)
    informed = next(
        (i for i in state.pathway.informed if i.event_id == event.information_event_id), None
    )
    if informed is None:
        return _refused(
            state,
            DeadLetterReason.NOT_CHOSEN,
            f"no rights information {event.information_event_id} is recorded in this case: "
            "a choice follows the information (CESEDA R425-2)",
        )
    asked = _permits_asked(event)
    uninformed = sorted(
        route.topic.value
        for route in (ctx.pathway.route_for(p) for p in asked)
        if route is not None and route.topic not in informed.topics
    )
    if uninformed:
        return _refused(
            state,
            DeadLetterReason.NOT_CHOSEN,
            f"the person was not informed of {', '.join(uninformed)} (information "
            f"{informed.event_id}): an informed choice only (CESEDA R425-1, R425-2)",
        )
    if PermitType.UNKNOWN in asked or any(ctx.pathway.route_for(p) is None for p in asked):
        return _refused(
            state,
            DeadLetterReason.SCHEMA_VIOLATION,
            "no route of pathway.yaml asks the prefecture for "
            + ", ".join(p.value for p in asked if ctx.pathway.route_for(p) is None),
        )
    departement = state.facts.departement or (
        event.person.residence_departement if event.person else None
    )
    if asked:
        problem = _permit_problem(event.person)
        if problem is not None:
            return _refused(state, *problem)
        if departement is None:
            return _refused(
                state,
                DeadLetterReason.SCHEMA_VIOLATION,
                "a permit request needs the département: no report and no residence given",
            )
    state = with_pathway(
        state, choice_event_id=event.envelope.event_id, chosen_permits=frozenset(asked)
    )
    note = AuditNote(
        AuditAction.CASE_TRANSITION,
        "the person's choice recorded",
        reason=f"reflection period: {_yes(event.reflection_period)}; permit: "
        + (", ".join(p.value for p in asked) or "none")
        + f"; accommodation: {_yes(event.accommodation_wanted)}"
        + f"; support: {_yes(event.support_wanted)}",
        legal_basis="CESEDA R425-2 (« qui choisit »); Dir. 2011/36 art. 11(5)",
    )
    parts: list[Outcome] = []
    cause = event.envelope.event_id
    for permit_type in asked:
        assert event.person is not None
        assert departement is not None
        route_of = ctx.pathway.route_for(permit_type)
        assert route_of is not None
        part = permit_request(
            state,
            cause,
            permit_type,
            departement,
            route_of.source,
            event.person,
            inbound.sender,
            ctx,
            now,
        )
        state = part.state
        parts.append(part)
    helped = assistance(
        state,
        cause,
        event.accommodation_needs if event.accommodation_wanted else None,
        event.support_needed if event.support_wanted else (),
        departement,
        event.person,
        inbound.sender,
        ctx,
        now,
    )
    return outcome_of(helped.state, [*parts, helped], [note])


def agency_permit(state: CaseState, inbound: Inbound, ctx: Context, now: datetime) -> Outcome:
    """An agency's own permit request: refused outside the permit route and unless the
    person's latest recorded choice asks for that document; otherwise routed through the
    consent gate (no exception)."""
    event = inbound.event
    assert isinstance(event, PermitRequested)
    problem = _permit_problem(event.person)
    if problem is not None:
        return _refused(state, *problem)
    unchosen = _unchosen(state, PermitType(event.permit_type))
    if unchosen is not None:
        return _refused(state, DeadLetterReason.NOT_CHOSEN, unchosen)
    return route(state, inbound.subject, inbound.record, event, inbound.sender, ctx, now)


def _unchosen(state: CaseState, permit_type: PermitType) -> str | None:
    """Why the person's recorded choice does not ask for ``permit_type``, or None."""
    pathway = state.pathway
    if pathway.choice_event_id is None:
        return (
            f"no recorded choice of the person asks for {permit_type.value}: record the "
            "person's choice first (CESEDA R425-2, « qui choisit »)"
        )
    if permit_type not in pathway.chosen_permits:
        chosen = (
            ", ".join(sorted(p.value for p in pathway.chosen_permits)) or "no residence document"
        )
        return (
            f"the person's recorded choice {pathway.choice_event_id} asks for {chosen}, not "
            f"{permit_type.value}: record a new choice first (CESEDA R425-2)"
        )
    return None


def _permits_asked(event: PathwayChoiceRecorded) -> tuple[PermitType, ...]:
    """The documents the choice asks the prefecture for, the récépissé first."""
    asked: list[PermitType] = []
    if event.reflection_period:
        asked.append(PermitType.REFLECTION_PERIOD_RECEIPT)
    if event.permit_type is not None and event.permit_type not in asked:
        asked.append(PermitType(event.permit_type))
    return tuple(asked)


def _permit_problem(person: Person | None) -> tuple[DeadLetterReason, str] | None:
    """Why no residence document may be asked for this person, or None."""
    if person is None:
        return (DeadLetterReason.SCHEMA_VIOLATION, "a permit request needs the applicant")
    where = permit_route(person.nationalities, person.immigration_status)
    if where in (Route.FRENCH_NATIONAL, Route.FREE_MOVEMENT_NATIONAL):
        return (
            DeadLetterReason.NOT_IN_PERMIT_ROUTE,
            f"no residence permit for this person ({where.value}): a French national is not "
            "a foreigner (CESEDA L110-3); an EU, EEA or Swiss national is under Book II and "
            "needs no residence permit (L110-4, L231-1). Assistance is not affected",
        )
    return None


def _refused(state: CaseState, reason: DeadLetterReason, detail: str) -> Outcome:
    return Outcome(state=state, refusal=Refusal(reason, detail))


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
