"""Defect 8: a long-lived case's state stops growing with its events.

``received`` keeps one entry per agency (the union of categories it received), ``seen``
forgets event ids older than the replay window (a copy of them is a stale signature anyway).
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta

import pytest
from flow_helpers import NOW, consent_for, context, envelope, inbound, withdrawal

from hub.contracts.enums import AckStatus, AgencyRole, DeadLetterReason
from hub.contracts.events import AccommodationRequested, Acknowledgement, BaseModel
from hub.contracts.examples import CASE_ID, example_events
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState, Seen
from hub.flow.decisions import Context, Outcome

REQUEST = next(e for _s, e in example_events() if isinstance(e, AccommodationRequested))
WINDOW = timedelta(hours=24, minutes=5)
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def ctx() -> Context:
    return dataclasses.replace(context(), replay_window=WINDOW)


class Story:
    """One case fed event by event, an hour apart."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.state = CaseState(case_id=CASE_ID)
        self.offset = 0
        self.send("association-93", consent_for(AgencyRole.ACCOMMODATION_PROVIDER))

    @property
    def at(self) -> datetime:
        return NOW + self.offset * HOUR

    def send(self, sender: str, event: BaseModel) -> Outcome:
        outcome = handle(
            self.state, inbound(event, sender, self.ctx, self.offset, self.at), self.ctx, self.at
        )
        self.state = outcome.state
        self.offset += 1
        return outcome

    def pair(self) -> None:
        """A new accommodation request and the provider's completion of it."""
        needs = REQUEST.needs.model_copy(update={"remote_placement": False})
        request = REQUEST.model_copy(
            update={"envelope": envelope(), "needs": needs, "request_id": uuid.uuid4()}
        )
        sent = self.send("police-93", request)
        assert sent.refusal is None
        answered = self.send(
            "hebergement-93",
            Acknowledgement(
                envelope=envelope(), request_id=request.request_id, status=AckStatus.COMPLETED
            ),
        )
        assert answered.refusal is None


def test_received_keeps_one_entry_per_agency(ctx: Context) -> None:
    story = Story(ctx)
    for _ in range(20):
        story.pair()
    recipients = [(r.recipient, r.role) for r in story.state.received]
    assert recipients == [("hebergement-93", AgencyRole.ACCOMMODATION_PROVIDER)]  # not 20
    # a withdrawal still tells the provider to stop using what it received
    notice = story.send("association-93", withdrawal())
    assert {d.recipient.id for d in notice.deliveries} == {"hebergement-93"}


def test_seen_forgets_what_is_older_than_the_replay_window(ctx: Context) -> None:
    story = Story(ctx)
    for _ in range(40):  # 80 events over 80 hours
        story.pair()
    seen = story.state.seen_events()
    latest = max(s.at for s in seen if s.at is not None)
    assert all(s.at is not None and s.at >= latest - WINDOW for s in seen)
    assert len(seen) <= 26  # one event an hour, a day and five minutes kept


def test_the_state_size_is_flat_once_past_the_window(ctx: Context) -> None:
    story = Story(ctx)
    sizes = []
    for _ in range(60):
        story.pair()
        sizes.append(len(story.state.model_dump_json()))
    # after a day (12 pairs) the state holds a day of ids: it no longer grows
    assert sizes[-1] <= sizes[20] * 1.05, sizes


def test_a_replay_within_the_window_is_still_refused(ctx: Context) -> None:
    story = Story(ctx)
    story.pair()
    needs = REQUEST.needs.model_copy(update={"remote_placement": False})
    request = REQUEST.model_copy(
        update={"envelope": envelope(), "needs": needs, "request_id": uuid.uuid4()}
    )
    story.send("police-93", request)
    story.offset += 10  # ten hours later, from another offset
    replay = story.send("police-93", request)
    assert replay.refusal is not None
    assert replay.refusal.reason is DeadLetterReason.REPLAYED


def test_without_a_window_only_the_count_bound_applies() -> None:
    story = Story(context())
    for _ in range(30):
        story.pair()
    assert len(story.state.seen_events()) == 61  # the consent and every request and answer


def test_a_state_written_before_the_packed_log_still_reads() -> None:
    # The changelog of an earlier version keeps ``seen`` as a list of objects.
    event_id = uuid.uuid4()
    legacy = CaseState(case_id=CASE_ID).model_dump(mode="json")
    legacy["seen"] = [
        {
            "event_id": str(event_id),
            "topic": "nrm.outbox.police-93",
            "partition": 2,
            "offset": 41,
            "digest": "ab" * 16,
            "refused": True,
        }
    ]
    state = CaseState.model_validate(legacy)
    earlier = state.seen_event(event_id)
    assert earlier == Seen.of(event_id, "nrm.outbox.police-93", 2, 41, "ab" * 16, refused=True)
    # legacy sightings have no time: only the count bound forgets them
    later = state.with_seen(Seen.of(uuid.uuid4(), "t", 0, 0, "cd" * 16, at=NOW), NOW)
    assert later.seen_event(event_id) is not None
    assert CaseState.model_validate_json(later.model_dump_json()) == later


def test_a_uuid_inside_another_record_is_not_taken_for_an_event_id() -> None:
    # The packed log is searched by bytes: a match must start on a record boundary.
    inner = uuid.uuid4()
    digest = inner.bytes.hex()  # the digest field holds the bytes of ``inner``
    state = CaseState(case_id=CASE_ID).with_seen(Seen.of(uuid.uuid4(), "t", 0, 0, digest), None)
    assert state.seen_event(inner) is None
    assert state.without_seen(inner) == state
