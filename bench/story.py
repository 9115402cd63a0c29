"""The story every hub benchmark replays, and how it is published.

One referral is what the law asks for before a permit request reaches a prefecture (CESEDA
R425-2): the person's consent, the information on her rights, her recorded choice, then the
police's PermitRequested, signed by police-93 like any agency's records. bench/pipeline.py,
bench/latency.py and bench/scale.py all measure the hub on it; the raw ceiling and the Faust
forwarder replay the same records and write as many (``STORY_READS``, ``STORY_WRITES``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer

from hub.contracts.codec import Codec
from hub.contracts.events import PermitRequested
from hub.contracts.examples import example_events, permit_choice, permit_consent
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import all_topics
from hub.rules.directory import Directory
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics
from hub.trust.agency_keys import dev_key_path, load_private_key
from hub.trust.signing import RecordSigner

STORY_WRITES = 15
"""What the hub writes per new-case referral of the story, counted by the worker's
``nrm_router_events_out_total``: the récépissé request her choice raises (to prefecture-75)
and the police's own request (to prefecture-93), twelve audit entries (three per event read:
received, what it did, what it opened or routed) and the case-state changelog record."""
SENDER = "police-93"
RECIPIENT = "prefecture-93"
CHOICE_RECIPIENT = "prefecture-75"
"""Where the récépissé request each recorded choice raises goes (she lives in Paris)."""


def permit_requests(count: int, per_case: int = 1) -> list[PermitRequested]:
    """``count`` permit requests, ``per_case`` of them for each case."""
    template = next(e for _s, e in example_events() if isinstance(e, PermitRequested))
    events = []
    case_id = uuid.uuid4()
    for index in range(count):
        if index % per_case == 0:
            case_id = uuid.uuid4()
        envelope = template.envelope.model_copy(
            update={"case_id": case_id, "event_id": uuid.uuid4(), "correlation_id": case_id}
        )
        events.append(
            template.model_copy(update={"envelope": envelope, "request_id": uuid.uuid4()})
        )
    return events


def with_consents(events: list[PermitRequested]) -> list[Any]:
    """``events``, each case's first request preceded by the person's consent for the
    prefecture (without it the hub holds the request: issue 20) and her recorded choice
    (without it the hub refuses it: CESEDA R425-2)."""
    out: list[Any] = []
    seen: set[uuid.UUID] = set()
    for event in events:
        if event.envelope.case_id not in seen:
            seen.add(event.envelope.case_id)
            out += before_request(event)
        out.append(event)
    return out


def before_request(event: PermitRequested) -> list[Any]:
    """The person's consent and recorded choice for ``event``'s case. She lives in Paris: the
    récépissé request her choice raises goes to ``CHOICE_RECIPIENT``, outside what is
    counted."""
    case_id, at = event.envelope.case_id, event.envelope.occurred_at
    return [permit_consent(case_id, at), *permit_choice(case_id, at, CHOICE_RECIPIENT[-2:])]


def story(records: int, per_case: int = 1) -> list[Any]:
    """``records`` referrals, each the story the hub is measured on, in order."""
    return with_consents(permit_requests(records, per_case))


STORY_READS = len(story(1))
"""Records read per new-case referral (the consent, the rights, the choice, the request)."""


def writes_for(read_index: int) -> int:
    """How many records the ceiling and Faust write for their ``read_index``-th read (from 0):
    ``STORY_WRITES`` per ``STORY_READS`` reads, spread evenly."""
    return ((read_index + 1) * STORY_WRITES) // STORY_READS - (
        read_index * STORY_WRITES
    ) // STORY_READS


async def hub_topics(settings: HubSettings) -> tuple[Codec, RecordSigner]:
    """Every topic of the directory created; the codec and the sender's signer."""
    await create_topics(settings, all_topics(a.id for a in Directory.load(settings.config_dir)))
    return Codec(SchemaRegistry.load(settings.schemas_dir)), agency_signer(settings)


def agency_signer(settings: HubSettings, agency_id: str = SENDER) -> RecordSigner:
    """The development key of ``agency_id`` (``deploy/config``), as its own client signs."""
    agency = Directory.load(settings.config_dir).get(agency_id)
    assert agency is not None
    return RecordSigner.for_agency(
        agency, load_private_key(dev_key_path(settings.config_dir, agency_id))
    )


async def publish(
    settings: HubSettings,
    codec: Codec,
    events: list[Any],
    topic: str,
    signer: RecordSigner | None,
) -> float:
    """Publish ``events`` as fast as possible; return the seconds it took."""
    producer = AIOKafkaProducer(linger_ms=5, **client_options(settings))
    await producer.start()
    started = time.perf_counter()
    try:
        futures = []
        for event in events:
            key = str(event.envelope.case_id).encode()
            value = codec.encode_event(event)
            headers = signer.sign(topic, key, value) if signer else []
            futures.append(await producer.send(topic, value, key=key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started
