"""An attacker with the broker port and the re-drive topic (issue 21: "a forged record must
never be pushed through again"), on the real broker.

The re-drive topic is read by the worker as the operators' channel to re-inject a dead letter.
Its records are not signed, and the worker believes the dead letter's ``occurred_at`` as the
instant against which the original's signature window is checked. A record refused for a
signature older than the window (STALE_SIGNATURE, which ``hub redrive`` and the dashboard
never offer to re-drive) is copied from ``nrm.deadletters``, back-dated to its signing time and
written to ``nrm.redrive``: the worker must still refuse it, not route it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from eventually import eventually
from flow_helpers import events_for, fresh, received_for
from worker_thread import AgencyFactory

from agents.redrive import list_dead_letters
from hub.contracts.enums import DeadLetterReason
from hub.contracts.events import DeadLetter, PermitRequested, ReferralOpened
from hub.contracts.topics import REDRIVE, outbox_topic
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings

pytestmark = pytest.mark.usefixtures("worker")


@pytest.mark.xfail(
    strict=True,
    reason=(
        "open defect: the worker accepts any record on nrm.redrive (unsigned) and checks the "
        "original's signature window against the letter's own occurred_at, which the writer "
        "of the re-drive chooses; the re-drive policy (never for STALE_SIGNATURE, "
        "BAD_SIGNATURE, REPLAYED...) is enforced only by `hub redrive` and the dashboard. "
        "Fix: re-drives carry the hub-signed dead letter (bytes and signature headers from "
        "nrm.deadletters) and the worker verifies that signature and applies the policy."
    ),
)
async def test_a_back_dated_redrive_of_a_stale_record_is_not_routed(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    case_id = uuid.uuid4()
    story = events_for(case_id)
    police = await agency("police-93")
    prefecture = await agency("prefecture-93")
    await police.publish(fresh(story[ReferralOpened], case_id))
    permit = fresh(story[PermitRequested], case_id, request_id=uuid.uuid4())
    key = str(case_id).encode()
    value = police.codec.encode_event(permit)
    signed_at = datetime.now(UTC) - timedelta(days=30)
    stamp = int(signed_at.timestamp() * 1000)
    topic = outbox_topic("police-93")
    sent = await police.publish_raw(
        value, key, police.signer.sign(topic, key, value, timestamp_ms=stamp)
    )

    async def stale() -> DeadLetter | None:
        for d in await list_dead_letters(hub_settings):
            if (d.source_topic, d.source_offset) == (topic, sent.offset):
                return d
        return None

    letter = await eventually(stale, timeout_s=20, what="the stale record's dead letter")
    assert letter.reason is DeadLetterReason.STALE_SIGNATURE

    # The attacker: the hub's own dead letter, back-dated, straight onto nrm.redrive.
    forged = letter.model_copy(update={"occurred_at": signed_at})
    producer = AIOKafkaProducer(**client_options(hub_settings))
    await producer.start()
    try:
        await producer.send_and_wait(REDRIVE.name, police.codec.encode_event(forged), key=key)
    finally:
        await producer.stop()

    async def outcome() -> str | None:
        if [
            d
            for d in await list_dead_letters(hub_settings)
            if (d.source_topic, d.source_offset) == (topic, sent.offset)
            and d.dead_letter_id != letter.dead_letter_id
        ]:
            return "refused again"
        delivered = await received_for(prefecture, case_id, 1, timeout_s=0.5)
        return "routed" if delivered else None

    assert await eventually(outcome, timeout_s=20, what="the worker's answer") == "refused again"
