"""The prefecture subscriber on the embedded broker: a permit request flows into the local
work queue, the clerk's receipt flows back to the requester and closes the deadline, and the
grant that follows closes the request. The case, closed, is then erased through the workflow:
the hub's erasure notice reaches the prefecture, and its queue forgets the person (RGPD art. 19,
issue 23)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from eventually import eventually
from flow_helpers import (
    chosen_request_id,
    events_for,
    fresh,
    permit_chosen,
    prefecture_consent,
    received_for,
)
from typer.testing import CliRunner, Result
from worker_thread import AgencyFactory

from agents.io.case_store import read_case
from connectors.prefecture.queue import Answer, QueueError, WorkQueue
from connectors.prefecture.subscriber import answer, sync
from hub.cli.app import app
from hub.contracts.enums import AckStatus, ErasureOutcome
from hub.contracts.events import Acknowledgement, CaseClosed, ConsentGiven
from hub.runtime.settings import HubSettings

pytestmark = pytest.mark.usefixtures("worker")
PERMIT = "fr.nrm.PermitRequested"
REFLECTION = "reflection_period_end"


def hub(settings: HubSettings, *args: str) -> Result:
    """The ``hub`` command, as an operator runs it."""
    return CliRunner().invoke(app, list(args), obj=settings, env={"COLUMNS": "250"})


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
    information, choice = permit_chosen(case_id)  # her choice raises the request
    permit_id = chosen_request_id(choice)
    await police.publish(prefecture_consent(case_id))
    await police.publish(information)
    await police.publish(choice)
    assert await open_deadlines_of(hub_settings, case_id, permit_id, want_open=True) == 1

    db = tmp_path / "prefecture-93.sqlite"

    async def synced() -> bool:
        await sync(hub_settings, "prefecture-93", db, wait_s=10.0)
        with WorkQueue(db) as queue:
            return queue.get(permit_id) is not None

    # Other tests' messages may share the inbox: sync until ours arrives.
    assert await eventually(synced, timeout_s=50.0, what="the permit request in the work queue")
    with WorkQueue(db) as queue:
        item = queue.get(permit_id)
        assert item is not None
        assert item.case_id == case_id
        assert item.departement == "93"
        assert item.state == "pending"
        # The clerk issues the permit to a named person (consent covers identity here).
        assert item.last_name
        assert (item.first_name, item.last_name) == (
            choice.person.first_name,
            choice.person.last_name,
        )

    ack = await answer(hub_settings, "prefecture-93", db, permit_id, Answer.RECEIPT)
    assert ack.status is AckStatus.ACCEPTED
    assert ack.detail == "récépissé délivré"

    back = [
        m
        for m in await received_for(police, case_id, 1, timeout_s=15.0)
        if isinstance(m.event, Acknowledgement)
    ]
    assert len(back) == 1
    assert back[0].event.request_id == permit_id
    assert back[0].event.status is AckStatus.ACCEPTED
    answered = await open_deadlines_of(
        hub_settings, case_id, permit_id, want_open=False, message_type=PERMIT
    )
    assert answered == 0
    # The récépissé delivered starts the reflection period (CESEDA R425-2): its end is tracked.
    reflection = await open_deadlines_of(
        hub_settings, case_id, permit_id, want_open=True, message_type=REFLECTION
    )
    assert reflection == 1

    # The receipt met the deadline; the request stays open for the decision.
    with WorkQueue(db) as queue:
        item = queue.get(permit_id)
        assert item is not None
        assert item.state == "receipt"
    with pytest.raises(QueueError, match="déjà une réponse"):
        await answer(hub_settings, "prefecture-93", db, permit_id, Answer.RECEIPT)

    granted = await answer(hub_settings, "prefecture-93", db, permit_id, Answer.GRANTED)
    assert granted.status is AckStatus.COMPLETED
    back = [
        m
        for m in await received_for(police, case_id, 1, timeout_s=15.0)
        if isinstance(m.event, Acknowledgement)
    ]
    assert [m.event.status for m in back] == [AckStatus.COMPLETED]
    assert back[0].event.detail == "titre de séjour accordé"
    assert await open_requests_of(hub_settings, case_id, permit_id) == 0

    # The case is closed, then erased (four eyes); the next sync applies the hub's notice.
    await association.publish(fresh(story[CaseClosed], case_id))

    async def closed() -> bool:
        state = await read_case(hub_settings, case_id)
        return state is not None and state.status.value == "CLOSED"

    await eventually(closed, timeout_s=20.0, what="the case closed")
    asked = await asyncio.to_thread(
        hub,
        hub_settings,
        "erase",
        "request",
        str(case_id),
        "--by",
        "operatrice.demo",
        "--reason",
        "demande de la personne",
        "--yes",
    )
    assert asked.exit_code == 0, asked.output
    pending = json.loads(
        (await asyncio.to_thread(hub, hub_settings, "erase", "pending", "--json")).stdout
    )
    [request_id] = [p["request_id"] for p in pending if p["case_id"] == str(case_id)]
    done = await asyncio.to_thread(
        hub, hub_settings, "erase", "approve", request_id, "--by", "dpo.demo", "--yes"
    )
    assert done.exit_code == 0, done.output
    assert f"Dossier {case_id} effacé" in done.stdout

    async def forgotten() -> bool:
        await sync(hub_settings, "prefecture-93", db, wait_s=5.0)
        with WorkQueue(db) as queue:
            item = queue.get(permit_id)
            return item is not None and item.last_name is None

    await eventually(forgotten, timeout_s=50.0, what="the queue applying the erasure notice")
    with WorkQueue(db) as queue:
        assert queue.notices(case_id) == [(ErasureOutcome.ERASED, ())]
    assert choice.person.last_name
    assert choice.person.last_name.encode() not in db.read_bytes()
    assert await open_deadlines_of(hub_settings, case_id, permit_id, want_open=False) == 0
    with WorkQueue(db) as queue:
        assert all(i.request_id != permit_id for i in queue.pending())
    with pytest.raises(QueueError, match="déjà une réponse"):
        await answer(hub_settings, "prefecture-93", db, permit_id, Answer.REFUSED)
