"""The dashboard never re-drives a forged or unsigned dead letter (issue 22, finding 7): no
« Relancer » button for it, and an operator (or an attacker with a session) who posts the
form by hand gets a 409 and nothing is written to ``nrm.redrive``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from eventually import eventually_sync
from redrive_records import letter_headers
from test_dashboard import dashboard_config, demo_passwords, login

from agents.redrive import redriven_ids
from connectors.dashboard.actions import OPERATOR_ACTIONS
from connectors.dashboard.app import create_dashboard_app
from connectors.serving import BackgroundServer
from hub.contracts.codec import Codec
from hub.contracts.enums import DeadLetterReason
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import DEAD_LETTERS
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics


def letter(reason: DeadLetterReason) -> DeadLetter:
    return DeadLetter(
        dead_letter_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        reason=reason,
        detail=f"test {reason.value}",
        original=b"\x00\x00\x00\x00\x01junk",
        source_topic="nrm.outbox.police-93",
        source_partition=0,
        source_offset=3,
        case_id=uuid.uuid4(),
    )


@pytest.fixture(scope="module")
def letters(hub_settings: HubSettings) -> dict[str, DeadLetter]:
    made = {
        "unsigned": letter(DeadLetterReason.BAD_SIGNATURE),
        "fixable": letter(DeadLetterReason.NO_ELIGIBLE_RECIPIENT),
    }
    codec = Codec(SchemaRegistry.load(hub_settings.schemas_dir))

    async def write() -> None:
        await create_topics(hub_settings, [OPERATOR_ACTIONS, DEAD_LETTERS])
        producer = AIOKafkaProducer(**client_options(hub_settings))
        await producer.start()
        try:
            for item in made.values():
                value = codec.encode_event(item)  # as the worker writes it: signed by the hub
                await producer.send_and_wait(
                    DEAD_LETTERS.name,
                    value,
                    key=str(item.case_id).encode(),
                    headers=letter_headers(item, value),
                )
        finally:
            await producer.stop()

    asyncio.run(write())
    return made


@pytest.fixture(scope="module")
def client(
    hub_settings: HubSettings,
    letters: dict[str, DeadLetter],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[httpx.Client]:
    tmp: Path = tmp_path_factory.mktemp("redrive-dashboard")
    app = create_dashboard_app(hub_settings, dashboard_config(tmp))
    server = BackgroundServer(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30.0) as http:
            passwords = demo_passwords(hub_settings.config_dir)
            assert login(http, "operateur.demo", passwords["operateur.demo"]).status_code == 303
            yield http
    finally:
        server.stop()


def test_a_forged_letter_has_no_button_and_a_hand_made_post_is_refused(
    client: httpx.Client, hub_settings: HubSettings, letters: dict[str, DeadLetter]
) -> None:
    unsigned, fixable = letters["unsigned"].dead_letter_id, letters["fixable"].dead_letter_id

    def listed() -> str | None:
        page = client.get("/")
        both = str(unsigned) in page.text and str(fixable) in page.text
        return page.text if page.status_code == 200 and both else None

    page = eventually_sync(listed, timeout_s=20.0, what="both dead letters on the overview")
    assert f'action="/lettres-mortes/{fixable}/relance"' in page
    assert f'action="/lettres-mortes/{unsigned}/relance"' not in page
    csrf = page.split('name="csrf" value="')[1].split('"')[0]

    forged_post = client.post(
        f"/lettres-mortes/{unsigned}/relance",
        data={"csrf": csrf},
        headers={"Accept": "application/json"},
    )
    assert forged_post.status_code == 409
    assert "relance refusée" in forged_post.json()["message"]
    assert unsigned not in asyncio.run(redriven_ids(hub_settings))
