"""Privacy as a property of the routing decision (no broker).

Hypothesis plays random stories on one case — referrals, requests, reports, answers, consents
given and withdrawn (random categories, roles, expiries), safety flags — against random
directories (subsets of the demo directory, providers closed or full) and checks every
projection ``hub.flow.case_flow.handle`` decides to deliver:

- no non-null field of a category the recipient's role does not need for that message type
  (``deploy/config/consent.yaml``: required ∪ optional; nothing at all without an entry);
- no category that consent does not cover for that role at that instant, unless a named
  legal exception applies to (message type, role, situation: minor, immediate danger, the
  reporter's role and professional secrecy) — and an exception covers only the categories
  the role *requires*: an optional one always needs consent;
- after a withdrawal, nothing of the withdrawn categories reaches the withdrawn roles until a
  new consent covers them again; contact data never reaches anyone a safety flag excludes.

The oracle is written from the policy files and the schemas' ``category`` tags, not from the
projection code: it walks each delivered record against its registered schema.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from figures import env_int
from flow_helpers import NOW, chosen, codec, context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from hub.contracts.enums import (
    AckStatus,
    AgencyRole,
    ConsentMethod,
    DataCategory,
    DeclineReason,
    ExploitationType,
    SafeChannel,
    Urgency,
)
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    AccommodationRequested,
    Acknowledgement,
    ConsentGiven,
    ConsentWithdrawn,
    PermitRequested,
    PresumedVictimReport,
    ReferralOpened,
    SafetyFlagsSet,
    SupportRequested,
)
from hub.contracts.examples import example_events
from hub.contracts.registry import SchemaRegistry
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState
from hub.flow.decisions import Context, Deliver, Inbound
from hub.flow.ingest import accept
from hub.rules.consent import ConsentPolicy, Situation
from hub.rules.directory import Agency, Directory
from hub.runtime.settings import get_settings

EXAMPLES = env_int("NRM_PRIVACY_EXAMPLES", 200)
BASE = context()
CODEC = codec()
REGISTRY = SchemaRegistry.load(get_settings().schemas_dir)
POLICY: ConsentPolicy = BASE.consent
CATEGORIES = [c for c in DataCategory if c is not DataCategory.UNKNOWN]
ROLES = [r for r in AgencyRole if r not in (AgencyRole.UNKNOWN, AgencyRole.HUB)]
CONTACT_ROLE = {
    SafeChannel.VIA_SUPPORT_ASSOCIATION: AgencyRole.SUPPORT_ASSOCIATION,
    SafeChannel.VIA_ACCOMMODATION_PROVIDER: AgencyRole.ACCOMMODATION_PROVIDER,
}
REQUESTS: tuple[type[BaseModel], ...] = (
    AccommodationRequested,
    SupportRequested,
    PermitRequested,
)
PERSON_FIELDS = [
    "first_name",
    "last_name",
    "date_of_birth",
    "languages",
    "nationalities",
    "immigration_status",
    "documents_held",
    "phone",
    "address",
    "health_needs",
    "guardian",
]


# ---------------------------------------------------------------- the oracle


def categories_in(record: Any, schema: Any, named: dict[str, Any], tag: str | None) -> set[str]:
    """Category tags of the non-null, non-empty leaves of ``record`` under ``schema``."""
    if record is None or record == [] or record == {} or record == "":
        return set()
    if isinstance(schema, str):
        if schema in named:
            return categories_in(record, named[schema], named, tag)
        return {tag} if tag else set()
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        found: set[str] = set()
        for branch in branches:
            found |= categories_in(record, branch, named, tag)
        return found
    kind = schema.get("type")
    if kind == "record":
        named[schema["name"]] = schema
        named[f"fr.nrm.{schema['name']}"] = schema
        if not isinstance(record, dict):
            return set()
        found = set()
        for field in schema["fields"]:
            found |= categories_in(
                record.get(field["name"]), field["type"], named, field.get("category", tag)
            )
        return found
    if kind == "enum":
        named[schema["name"]] = schema
        named[f"fr.nrm.{schema['name']}"] = schema
    if kind == "array" and isinstance(record, list | tuple):
        found = set()
        for item in record:
            found |= categories_in(item, schema["items"], named, tag)
        return found
    if isinstance(kind, dict | list):
        return categories_in(record, kind, named, tag)
    return {tag} if tag else set()


def delivered_categories(delivery: Deliver) -> set[DataCategory]:
    schema = REGISTRY.latest(delivery.subject).schema
    tags = categories_in(delivery.record, schema, {}, None)
    return {DataCategory.from_tag(t) for t in tags}


@dataclasses.dataclass
class Story:
    """What the person agreed to, as the oracle understands the policy."""

    consent: dict[tuple[DataCategory, AgencyRole], tuple[uuid.UUID, datetime | None]] = (
        dataclasses.field(default_factory=dict)
    )
    withdrawn: set[tuple[DataCategory, AgencyRole]] = dataclasses.field(default_factory=set)
    minor: bool = False
    flagged_danger: bool = False
    urgency: str = Urgency.UNKNOWN.value
    do_not_contact: bool = False
    safe_channel: SafeChannel | None = None

    def covered(self, category: DataCategory, role: AgencyRole, now: datetime) -> bool:
        grant = self.consent.get((category, role))
        return grant is not None and (grant[1] is None or now < grant[1])

    def learn(self, event: BaseModel) -> None:
        if isinstance(event, ConsentGiven):
            for c in event.categories:
                for r in event.recipient_roles:
                    self.consent[(c, r)] = (event.consent_id, event.expires_at)
                    self.withdrawn.discard((c, r))
        elif isinstance(event, ConsentWithdrawn):
            categories = event.categories if event.categories is not None else CATEGORIES
            roles = event.recipient_roles if event.recipient_roles is not None else ROLES
            for c in categories:
                for r in roles:
                    grant = self.consent.get((c, r))
                    if grant and (event.consent_id is None or grant[0] == event.consent_id):
                        del self.consent[(c, r)]
                        self.withdrawn.add((c, r))
        elif isinstance(event, SafetyFlagsSet):
            self.do_not_contact = event.do_not_contact
            channel = event.safe_channel
            self.safe_channel = None if channel is SafeChannel.UNKNOWN else channel
        else:
            record = event.model_dump()
            person = record.get("person") or {}
            self.minor = self.minor or bool(record.get("minor_suspected") or person.get("is_minor"))
            # Danger: the report's flag (it stays) or its urgency (the latest one known).
            self.flagged_danger = self.flagged_danger or bool(record.get("immediate_danger"))
            needs = record.get("needs") or {}
            self.urgency = record.get("urgency") or needs.get("urgency") or self.urgency

    def situation(self, reporter_id: str) -> Situation:
        reporter = BASE.directory.get(reporter_id)
        role = reporter.role if reporter is not None else AgencyRole.UNKNOWN
        return Situation(
            minor=self.minor,
            immediate_danger=self.flagged_danger or self.urgency == Urgency.IMMEDIATE_DANGER,
            reporter_role=role,
            reporter_secrecy=BASE.directory.bound_by_secrecy(role),
        )

    def violations(self, delivery: Deliver, now: datetime) -> Iterator[str]:
        role = delivery.recipient.role
        present = delivered_categories(delivery)
        need = POLICY.need(delivery.subject, role)
        needed = (need.required | need.optional) if need else frozenset()
        situation = self.situation(str(delivery.record["envelope"]["sender"]))
        exception = POLICY.exception(delivery.subject, role, situation) if need else None
        lawful = need.required if need and exception else frozenset()
        where = f"{delivery.subject} to {delivery.recipient.id} ({role.value})"
        for category in sorted(present):
            if category not in needed:
                yield f"{where}: {category.value}, which its role does not need"
            elif category not in lawful and not self.covered(category, role, now):
                yield f"{where}: {category.value}, not covered by consent"
            if category not in lawful and (category, role) in self.withdrawn:
                yield f"{where}: {category.value}, withdrawn for {role.value}"
        if DataCategory.CONTACT in present:
            if self.do_not_contact:
                yield f"{where}: contact data despite do-not-contact"
            if self.safe_channel is not None and CONTACT_ROLE.get(self.safe_channel) is not role:
                yield f"{where}: contact data outside the safe channel"


# ---------------------------------------------------------------- the strategies

AGENCIES = list(BASE.directory)


@st.composite
def directories(draw: st.DrawFn) -> Directory:
    """A subset of the demo directory; providers may be closed or full."""
    directory: Directory = BASE.directory
    for agency in AGENCIES:
        if draw(st.integers(0, 9)) == 0:
            directory = directory.without_agency(agency.id)
        elif agency.role is AgencyRole.ACCOMMODATION_PROVIDER:
            changed = agency.model_copy(
                update={
                    "accepting": draw(st.booleans()),
                    "capacity": draw(st.sampled_from([None, 0, 1, 5])),
                }
            )
            directory = directory.with_agency(changed)
    return directory


def _person(draw: st.DrawFn, base: Any) -> Any:
    blank = draw(st.sets(st.sampled_from(PERSON_FIELDS)))
    minor = draw(st.sampled_from([None, False, True]))
    return base.model_copy(update={**dict.fromkeys(blank), "is_minor": minor})


@st.composite
def steps(draw: st.DrawFn, case_id: uuid.UUID) -> tuple[str, BaseModel, timedelta]:
    """One (sender, event, time since the previous step) of the case's story."""
    story: dict[type[BaseModel], Any] = {type(e): e for _s, e in example_events(case_id)}
    envelope = Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=NOW)
    later = timedelta(hours=draw(st.integers(0, 72)))
    kind = draw(st.integers(0, 9))
    if kind <= 2:
        roles = draw(st.sets(st.sampled_from(ROLES), min_size=1, max_size=4))
        categories = draw(st.sets(st.sampled_from(CATEGORIES), min_size=1, max_size=6))
        expiry = draw(st.sampled_from([None, -24, 1, 12, 48, 24 * 30]))
        consent = ConsentGiven(
            envelope=envelope,
            consent_id=uuid.uuid4(),
            categories=tuple(sorted(categories)),
            recipient_roles=tuple(sorted(roles)),
            purpose="accompagnement",
            expires_at=None if expiry is None else NOW + timedelta(hours=expiry),
            recorded_by_role=AgencyRole.SUPPORT_ASSOCIATION,
            method=ConsentMethod.WRITTEN,
        )
        return "association-93", consent, later
    if kind == 3:
        scope_categories = draw(
            st.one_of(st.none(), st.sets(st.sampled_from(CATEGORIES), min_size=1))
        )
        scope_roles = draw(st.one_of(st.none(), st.sets(st.sampled_from(ROLES), min_size=1)))
        withdrawal = ConsentWithdrawn(
            envelope=envelope,
            categories=tuple(sorted(scope_categories)) if scope_categories else None,
            recipient_roles=tuple(sorted(scope_roles)) if scope_roles else None,
            recorded_by_role=AgencyRole.SUPPORT_ASSOCIATION,
        )
        return "association-93", withdrawal, later
    if kind == 4:
        flags = SafetyFlagsSet(
            envelope=envelope,
            do_not_contact=draw(st.booleans()),
            safe_channel=draw(st.sampled_from(list(SafeChannel))),
        )
        return "association-93", flags, later
    sender = draw(st.sampled_from(["police-93", "inspection-travail-93"]))
    exploitation = draw(st.sets(st.sampled_from(list(ExploitationType)), max_size=2))
    common = {"envelope": envelope}
    if kind == 5:
        referral = story[ReferralOpened]
        event: BaseModel = referral.model_copy(
            update={
                **common,
                "minor_suspected": draw(st.booleans()),
                "exploitation_types": tuple(sorted(exploitation)),
                "person": _person(draw, referral.person),
            }
        )
        return sender, event, later
    if kind == 6:
        report = story[PresumedVictimReport]
        event = report.model_copy(
            update={
                **common,
                "urgency": draw(st.sampled_from(list(Urgency))),
                "minor_suspected": draw(st.booleans()),
                "immediate_danger": draw(st.booleans()),
                "exploitation_types": tuple(sorted(exploitation)),
                "person": _person(draw, report.person),
            }
        )
        reporters = ["association-93", "hopital-93", "police-93", "inspection-travail-93"]
        return draw(st.sampled_from(reporters)), event, later
    request = story[draw(st.sampled_from(REQUESTS))]
    event = request.model_copy(
        update={
            **common,
            "request_id": uuid.uuid4(),
            "person": _person(draw, request.person),
        }
    )
    return sender, event, later


def _answer(
    draw: Callable[[st.SearchStrategy[Any]], Any], state: CaseState, case_id: uuid.UUID
) -> tuple[str, BaseModel] | None:
    """An answer from the recipient of one of the case's open requests, if any."""
    if not state.requests:
        return None
    request = draw(st.sampled_from(list(state.requests)))
    status = draw(st.sampled_from([AckStatus.DECLINED, AckStatus.ACCEPTED]))
    ack = Acknowledgement(
        envelope=Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=NOW),
        request_id=request.request_id,
        status=status,
        decline_reason=DeclineReason.NO_CAPACITY if status is AckStatus.DECLINED else None,
    )
    return request.recipient, ack


def _inbound(event: BaseModel, sender: str, ctx: Context, offset: int) -> Inbound | None:
    from flow_helpers import raw_record

    accepted = accept(raw_record(event, sender, offset), CODEC, ctx.directory)
    return accepted if isinstance(accepted, Inbound) else None


# ---------------------------------------------------------------- the property


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), directory=directories())
def test_no_recipient_ever_receives_a_category_its_role_does_not_need_or_consent_does_not_cover(
    data: st.DataObject, directory: Directory
) -> None:
    ctx = dataclasses.replace(BASE, directory=directory)
    case_id = uuid.uuid4()
    # Half the cases start with the person's recorded choice of a récépissé, without which an
    # agency's permit request is refused before the consent gate (CESEDA R425-2).
    state = (
        chosen(case_id) if data.draw(st.booleans(), label="chosen") else CaseState(case_id=case_id)
    )
    story = Story()
    now = NOW
    problems: list[str] = []
    for offset in range(data.draw(st.integers(3, 16), label="length")):
        answer = _answer(data.draw, state, case_id) if data.draw(st.integers(0, 4)) == 0 else None
        if answer is not None:
            sender, event = answer
        else:
            sender, event, later = data.draw(steps(case_id))
            now += later
        inbound = _inbound(event, sender, ctx, offset)
        if inbound is None:  # the sender is not in this directory
            continue
        outcome = handle(state, inbound, ctx, now)
        state = outcome.state
        if outcome.refusal is None:
            story.learn(event)
        for delivery in outcome.deliveries:
            problems += story.violations(delivery, now)
    assert problems == [], "\n".join(problems)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    request_type=st.sampled_from([ReferralOpened, SupportRequested, AccommodationRequested]),
    granted=st.sets(st.sampled_from(CATEGORIES), min_size=1),
    withdrawn=st.one_of(st.none(), st.sets(st.sampled_from(CATEGORIES), min_size=1)),
    by_consent_id=st.booleans(),
    later=st.integers(0, 48),
)
def test_after_a_withdrawal_nothing_of_the_withdrawn_categories_reaches_those_roles(
    request_type: type[BaseModel],
    granted: set[DataCategory],
    withdrawn: set[DataCategory] | None,
    by_consent_id: bool,
    later: int,
) -> None:
    """Consent to everyone, a request shared under it, a withdrawal (of some categories, or
    all; by consent id or not), then the same kind of request again: the withdrawn categories
    never reach the roles they were withdrawn from, and earlier recipients are notified."""
    case_id = uuid.uuid4()
    story = {type(e): e for _s, e in example_events(case_id)}
    consent_id = uuid.uuid4()
    consent = ConsentGiven(
        envelope=Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=NOW),
        consent_id=consent_id,
        categories=(DataCategory.IDENTITY, *sorted(granted)),
        recipient_roles=tuple(ROLES),
        purpose="accompagnement",
        recorded_by_role=AgencyRole.SUPPORT_ASSOCIATION,
        method=ConsentMethod.WRITTEN,
    )
    withdrawal = ConsentWithdrawn(
        envelope=Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=NOW),
        consent_id=consent_id if by_consent_id else None,
        categories=tuple(sorted(withdrawn)) if withdrawn else None,
        recorded_by_role=AgencyRole.SUPPORT_ASSOCIATION,
    )

    def request() -> BaseModel:
        base = story[request_type]
        update: dict[str, Any] = {
            "envelope": Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=NOW)
        }
        if request_type is not ReferralOpened:
            update["request_id"] = uuid.uuid4()
        return base.model_copy(update=update)

    state = CaseState(case_id=case_id)
    oracle = Story()
    now = NOW
    deliveries: list[list[Deliver]] = []
    for offset, (sender, event) in enumerate(
        [
            ("association-93", consent),
            ("police-93", request()),
            ("association-93", withdrawal),
            ("police-93", request()),
        ]
    ):
        inbound = _inbound(event, sender, BASE, offset)
        assert inbound is not None
        outcome = handle(state, inbound, BASE, now)
        assert outcome.refusal is None, outcome.refusal
        state = outcome.state
        oracle.learn(event)
        deliveries.append(list(outcome.deliveries))
        problems = [p for d in outcome.deliveries for p in oracle.violations(d, now)]
        assert problems == [], "\n".join(problems)
        now += timedelta(hours=later)
    before, notices, after = deliveries[1], deliveries[2], deliveries[3]
    assert before, "the first request was shared under consent"
    gone = set(withdrawn) if withdrawn else set(CATEGORIES)
    for delivery in after:
        assert not (delivered_categories(delivery) & gone), delivery.recipient.id
    exposed = {d.recipient.id for d in before if delivered_categories(d) & gone}
    assert {n.recipient.id for n in notices} == exposed
    assert all(n.subject == "fr.nrm.ConsentWithdrawn" for n in notices)


def test_the_oracle_sees_every_category_of_an_unprojected_record() -> None:
    """The oracle itself: a whole example referral carries every category it has data for."""
    referral = next(e for _s, e in example_events() if isinstance(e, ReferralOpened))
    agency = Agency(id="x-1", name="x", role=AgencyRole.SUPPORT_ASSOCIATION)
    delivery = Deliver(agency, "fr.nrm.ReferralOpened", referral.model_dump(), frozenset(), "")
    assert delivered_categories(delivery) >= {
        DataCategory.IDENTITY,
        DataCategory.CONTACT,
        DataCategory.HEALTH,
        DataCategory.IMMIGRATION_STATUS,
        DataCategory.EXPLOITATION_DETAILS,
        DataCategory.MINOR,
    }
