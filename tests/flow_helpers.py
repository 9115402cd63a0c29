"""Builders shared by the flow tests: events as they arrive from an outbox."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from eventually import consistently, eventually
from pydantic import BaseModel

from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole, ConsentMethod, DataCategory, PermitType, RightsTopic
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    ConsentGiven,
    ConsentWithdrawn,
    PathwayChoiceRecorded,
    PermitRequested,
    Person,
    RightsInformationGiven,
)
from hub.contracts.examples import CASE_ID, example_events
from hub.contracts.partitioning import case_partition
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import outbox_topic
from hub.flow.case_state import CaseState, Pathway
from hub.flow.decisions import Context, Inbound, digest_of
from hub.flow.ingest import RawRecord, accept
from hub.flow.pathway import request_id_for
from hub.rules.consent import ConsentPolicy
from hub.rules.deadlines.policy import POLICY_FILE, DeadlinePolicy
from hub.rules.directory import Directory
from hub.rules.lifecycle import Lifecycle, PathwayPolicy
from hub.rules.projection import Projector
from hub.rules.routing import RoutingRules
from hub.runtime.settings import get_settings

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def context(directory: Directory | None = None) -> Context:
    config = get_settings().config_dir
    registry = SchemaRegistry.load(get_settings().schemas_dir)
    return Context(
        directory=directory or Directory.load(config),
        rules=RoutingRules.load(config),
        consent=ConsentPolicy.load(config),
        projector=Projector(registry),
        deadlines=DeadlinePolicy.load(config / POLICY_FILE),
        lifecycle=Lifecycle.load(config),
        pathway=PathwayPolicy.load(config),
    )


def codec() -> Codec:
    return Codec(SchemaRegistry.load(get_settings().schemas_dir))


def envelope(case_id: uuid.UUID = CASE_ID, **extra: Any) -> Envelope:
    return Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=NOW, **extra)


def raw_record(event: BaseModel, sender: str, offset: int = 0, **overrides: Any) -> RawRecord:
    case_id = event.envelope.case_id  # type: ignore[attr-defined]
    fields: dict[str, Any] = {
        "topic": outbox_topic(sender),
        "partition": case_partition(case_id, 4),
        "offset": offset,
        "key": str(case_id).encode(),
        "value": codec().encode_event(event),
        "timestamp_ms": int(NOW.timestamp() * 1000),
    }
    fields.update(overrides)
    return RawRecord(**fields)


def inbound(
    event: BaseModel, sender: str, ctx: Context, offset: int = 0, at: datetime = NOW
) -> Inbound:
    """``event`` read from ``sender``'s outbox at ``offset``, in a record stamped ``at``."""
    record = raw_record(event, sender, offset, timestamp_ms=int(at.timestamp() * 1000))
    accepted = accept(record, codec(), ctx.directory)
    assert isinstance(accepted, Inbound), accepted
    return accepted


def consent_for(
    *roles: AgencyRole,
    categories: tuple[DataCategory, ...] | None = None,
    case_id: uuid.UUID = CASE_ID,
) -> ConsentGiven:
    return ConsentGiven(
        envelope=envelope(case_id),
        consent_id=uuid.uuid4(),
        categories=categories or tuple(c for c in DataCategory if c is not DataCategory.UNKNOWN),
        recipient_roles=roles,
        purpose="accompagnement",
        expires_at=NOW + timedelta(days=365),
        recorded_by_role=AgencyRole.SUPPORT_ASSOCIATION,
        method=ConsentMethod.ORAL_WITH_INTERPRETER,
    )


def prefecture_consent(case_id: uuid.UUID = CASE_ID) -> ConsentGiven:
    """The person's consent to their permit application: identity and immigration status for
    the prefecture (issue 20: no legal exception sends them without it)."""
    return consent_for(
        AgencyRole.PREFECTURE,
        categories=(DataCategory.IDENTITY, DataCategory.IMMIGRATION_STATUS),
        case_id=case_id,
    )


def rights_information(case_id: uuid.UUID = CASE_ID) -> RightsInformationGiven:
    """The police's R425-1 information, in English, as the association records it."""
    return RightsInformationGiven(
        envelope=envelope(case_id),
        topics=(RightsTopic.REFLECTION_PERIOD, RightsTopic.ACCOMMODATION, RightsTopic.ASYLUM),
        language="en",
        given_by_role=AgencyRole.POLICE_GENDARMERIE,
    )


def pathway_choice(
    information: RightsInformationGiven, person: Person | None, **fields: Any
) -> PathwayChoiceRecorded:
    """The person's choice after ``information``: the reflection period unless told."""
    values: dict[str, Any] = {"reflection_period": True, "person": person}
    values.update(fields)
    return PathwayChoiceRecorded(
        envelope=envelope(information.envelope.case_id),
        information_event_id=information.envelope.event_id,
        **values,
    )


def permit_chosen(
    case_id: uuid.UUID, person: Person | None = None
) -> tuple[RightsInformationGiven, PathwayChoiceRecorded]:
    """The example person (or ``person``) informed, then choosing the reflection period:
    publishing both makes the hub raise one ``PermitRequested`` to the prefecture (held until
    consent), whose request id is ``chosen_request_id(choice)``."""
    information = rights_information(case_id)
    return information, pathway_choice(
        information, person or events_for(case_id)[PermitRequested].person
    )


def chosen_request_id(
    choice: PathwayChoiceRecorded,
    permit_type: PermitType = PermitType.REFLECTION_PERIOD_RECEIPT,
) -> uuid.UUID:
    """The id of the permit request the hub raises for ``choice``."""
    return request_id_for(choice.envelope.event_id, f"permit:{permit_type.value}")


def chosen(
    case_id: uuid.UUID = CASE_ID,
    permits: frozenset[PermitType] = frozenset({PermitType.REFLECTION_PERIOD_RECEIPT}),
) -> CaseState:
    """A new case in which the person's recorded choice asks for ``permits``: the only case
    in which an agency's own ``PermitRequested`` may pass (CESEDA R425-2, « qui choisit »)."""
    return CaseState(
        case_id=case_id, pathway=Pathway(choice_event_id=uuid.uuid4(), chosen_permits=permits)
    )


def withdrawal(case_id: uuid.UUID = CASE_ID) -> ConsentWithdrawn:
    return ConsentWithdrawn(
        envelope=envelope(case_id), recorded_by_role=AgencyRole.SUPPORT_ASSOCIATION
    )


def events_for(case_id: uuid.UUID) -> dict[type[BaseModel], Any]:
    """The example story of ``case_id``, by event type."""
    return {type(event): event for _sender, event in example_events(case_id)}


def fresh(event: Any, case_id: uuid.UUID, *, sender: str | None = None, **updates: Any) -> Any:
    """``event`` again under a new event id (optionally claiming ``sender``)."""
    extra = {"sender": sender} if sender else {}
    return event.model_copy(update={"envelope": envelope(case_id, **extra), **updates})


__all__ = ["NOW", "digest_of"]


async def received_for(
    client: Any, case_id: uuid.UUID, expected: int = 1, timeout_s: float = 10.0
) -> list[Any]:
    """Messages of ``case_id`` in a client's inbox (other tests share the agencies' inboxes),
    read until ``expected`` came or ``timeout_s`` passed; the caller asserts on what came."""
    found: list[Any] = []

    async def enough() -> bool:
        for message in await client.receive(expected=1, timeout_s=1.0):
            if message.event.envelope.case_id == case_id:
                found.append(message)
        return len(found) >= expected

    with contextlib.suppress(AssertionError):  # fewer than expected: the caller's assert says so
        await eventually(enough, timeout_s=timeout_s, what=f"{expected} message(s) of {case_id}")
    return found


async def nothing_for(client: Any, case_id: uuid.UUID, for_s: float) -> None:
    """Fail as soon as a message of ``case_id`` reaches the client within ``for_s`` seconds."""

    async def none_arrived() -> bool:
        messages = await client.receive(expected=1, timeout_s=0.5)
        arrived = [m for m in messages if m.event.envelope.case_id == case_id]
        assert not arrived, f"{len(arrived)} message(s) of {case_id} arrived"
        return True

    await consistently(none_arrived, for_s=for_s, what=f"no message of {case_id}")
