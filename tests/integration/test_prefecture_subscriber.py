"""The prefecture subscriber on the embedded broker: a permit request flows into the local
work queue, the clerk's receipt flows back to the requester and closes the deadline, and the
grant that follows closes the request."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from eventually import eventually
from flow_helpers import events_for, fresh, prefecture_consent, received_for
from worker_thread import AgencyFactory

from agents.io.case_store import read_case
from connectors.prefecture.queue import Answer, QueueError, WorkQueue
from connectors.prefecture.subscriber import answer, sync
from hub.contracts.enums import AckStatus
from hub.contracts.events import Acknowledgement, ConsentGiven, PermitRequested
from hub.runtime.settings import HubSettings

pytestmark = pytest.mark.usefixtures("worker")
PERMIT = "fr.nrm.PermitRequested"
REFLECTION = "reflection_period_end"


async def open_deadlines_of(
    settings: HubSettings,
    case_id: uuid.UUID,
    request_id: uuid.UUID,
    want_open: bool,
    message_type: str | None = None,
) -> int:
    """How many open deadlines of ``request_id`` (of ``message_type``) the case has, polling
    (bounded) until that is non-zero (``want_open``) or zero."""

    async def counted() -> tuple[int]:
        state = await read_case(settings, case_id)
        assert state is not None, "no state for the case yet"
        count = sum(
            d.request_id == request_id and message_type in (None, d.message_type)
            for d in state.open_deadlines()
        )
        assert (count > 0) == want_open, f"{count} open deadlines"
        return (count,)  # a tuple: holds even when the count is zero

    what = "an open deadline" if want_open else "no open deadline"
    (count,) = await eventually(counted, timeout_s=15.0, interval_s=0.3, what=what)
    return count


async def open_requests_of(settings: HubSettings, case_id: uuid.UUID, request_id: uuid.UUID) -> int:
    """How many open requests ``request_id`` has in the case, polling (bounded) until none."""

    async def counted() -> tuple[int]:
        state = await read_case(settings, case_id)
        assert state is not None, "no state for the case yet"
        count = sum(r.request_id == request_id for r in state.requests)
        assert count == 0, f"{count} open requests"
        return (count,)  # a tuple: holds even when the count is zero

    (count,) = await eventually(counted, timeout_s=15.0, interval_s=0.3, what="no open request")
    return count


async def test_permit_request_queued_answered_and_deadline_closed(
    agency: AgencyFactory, hub_settings: HubSettings, tmp_path: Path
) -> None:
    case_id = uuid.uuid4()
    story = events_for(case_id)
    police = await agency("police-93")
    association = await agency("association-93")
    await association.publish(fresh(story[ConsentGiven], case_id))
    permit = fresh(story[PermitRequested], case_id, request_id=uuid.uuid4())
    await police.publish(prefecture_consent(case_id))
    await police.publish(permit)
    assert await open_deadlines_of(hub_settings, case_id, permit.request_id, want_open=True) == 1

    db = tmp_path / "prefecture-93.sqlite"

    async def synced() -> bool:
        await sync(hub_settings, "prefecture-93", db, wait_s=10.0)
        with WorkQueue(db) as queue:
            return queue.get(permit.request_id) is not None

    # Other tests' messages may share the inbox: sync until ours arrives.
    assert await eventually(synced, timeout_s=50.0, what="the permit request in the work queue")
    with WorkQueue(db) as queue:
        item = queue.get(permit.request_id)
        assert item is not None
        assert item.case_id == case_id
        assert item.departement == "93"
        assert item.state == "pending"
        # The clerk issues the permit to a named person (consent covers identity here).
        assert item.last_name
        assert (item.first_name, item.last_name) == (
            permit.person.first_name,
            permit.person.last_name,
        )

    ack = await answer(hub_settings, "prefecture-93", db, permit.request_id, Answer.RECEIPT)
    assert ack.status is AckStatus.ACCEPTED
    assert ack.detail == "récépissé délivré"

    back = [
        m
        for m in await received_for(police, case_id, 1, timeout_s=15.0)
        if isinstance(m.event, Acknowledgement)
    ]
    assert len(back) == 1
    assert back[0].event.request_id == permit.request_id
    assert back[0].event.status is AckStatus.ACCEPTED
    answered = await open_deadlines_of(
        hub_settings, case_id, permit.request_id, want_open=False, message_type=PERMIT
    )
    assert answered == 0
    # The récépissé delivered starts the reflection period (CESEDA R425-2): its end is tracked.
    reflection = await open_deadlines_of(
        hub_settings, case_id, permit.request_id, want_open=True, message_type=REFLECTION
    )
    assert reflection == 1

    # The receipt met the deadline; the request stays open for the decision.
    with WorkQueue(db) as queue:
        item = queue.get(permit.request_id)
        assert item is not None
        assert item.state == "receipt"
    with pytest.raises(QueueError, match="déjà une réponse"):
        await answer(hub_settings, "prefecture-93", db, permit.request_id, Answer.RECEIPT)

    granted = await answer(hub_settings, "prefecture-93", db, permit.request_id, Answer.GRANTED)
    assert granted.status is AckStatus.COMPLETED
    back = [
        m
        for m in await received_for(police, case_id, 1, timeout_s=15.0)
        if isinstance(m.event, Acknowledgement)
    ]
    assert [m.event.status for m in back] == [AckStatus.COMPLETED]
    assert back[0].event.detail == "titre de séjour accordé"
    assert await open_requests_of(hub_settings, case_id, permit.request_id) == 0
    assert await open_deadlines_of(hub_settings, case_id, permit.request_id, want_open=False) == 0
    with WorkQueue(db) as queue:
        assert all(i.request_id != permit.request_id for i in queue.pending())
    with pytest.raises(QueueError, match="déjà une réponse"):
        await answer(hub_settings, "prefecture-93", db, permit.request_id, Answer.REFUSED)
