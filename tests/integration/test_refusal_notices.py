"""Refusal notices through the real worker (issue 21, finding 3): an agency that answers a
request the hub does not know is told so in its inbox, through Kafka (the signed agency
client), through the gateway (its inbox read) and through its webhook.

Before this, the gateway answered 202, the worker dead-lettered the acknowledgement, and the
agency never heard of it: "delivered but rejected".
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from eventually import eventually
from flow_helpers import events_for, pathway_choice, rights_information
from gateway_fixtures import demo_tokens, served_gateway
from worker_thread import AgencyFactory

from connectors.client.agency_protocol import AgencyEndpoint, InboxMessage
from connectors.client.gateway_client import GatewayClient
from connectors.webhooks.config import RetryPolicy, WebhookTarget
from connectors.webhooks.deliverer import WebhookDeliverer
from hub.contracts.codec import Codec
from hub.contracts.enums import AckStatus, DeadLetterReason
from hub.contracts.events import PermitRequested, RefusalNotice
from hub.contracts.registry import SchemaRegistry
from hub.runtime.settings import HubSettings
from hub.trust.signing import HubSigner

PREFECTURE, POLICE = "prefecture-93", "police-93"
WAIT_S = 30.0
pytestmark = pytest.mark.usefixtures("worker")


async def open_permit_request(agency: AgencyFactory) -> uuid.UUID:
    """A case with a real permit request to the prefecture, raised by the person's recorded
    choice: the case exists, the answer's request id will be the only thing wrong."""
    case_id = uuid.uuid4()
    association = await agency("association-93")
    information = rights_information(case_id)
    await association.publish(information)
    person = events_for(case_id)[PermitRequested].person
    await association.publish(pathway_choice(information, person))
    return case_id


async def notice_of(
    client: AgencyEndpoint[Any], refused_event_id: uuid.UUID
) -> tuple[RefusalNotice, InboxMessage]:
    """Read the client's inbox until the notice about ``refused_event_id`` (bounded)."""

    async def arrived() -> tuple[RefusalNotice, InboxMessage] | None:
        for message in await client.receive(expected=10**6, timeout_s=1.0):
            notice = message.refusal
            if notice is not None and notice.refused_event_id == refused_event_id:
                return notice, message
        return None

    found = await eventually(
        arrived, timeout_s=WAIT_S, what=f"a refusal notice about {refused_event_id}"
    )
    assert found is not None
    return found


def assert_unknown_request(notice: RefusalNotice, case_id: uuid.UUID, agency: str) -> None:
    assert notice.reason is DeadLetterReason.UNKNOWN_REQUEST
    assert notice.authenticated  # the agency's own signed answer, not a forgery
    assert notice.source_topic == f"nrm.outbox.{agency}"
    assert notice.envelope.case_id == case_id
    assert notice.envelope.sender == "hub"
    assert "request_id" in notice.detail  # what to check, in French
    assert "demande" in notice.detail


async def test_an_answer_to_an_unknown_request_over_kafka_comes_back_as_a_signed_notice(
    agency: AgencyFactory,
) -> None:
    case_id = await open_permit_request(agency)
    prefecture = await agency(PREFECTURE)
    ack_id = uuid.uuid4()
    await prefecture.acknowledge(case_id, uuid.uuid4(), AckStatus.ACCEPTED, event_id=ack_id)

    # The client verified the hub's signature on the notice before handing it over.
    notice, message = await notice_of(prefecture, ack_id)
    assert_unknown_request(notice, case_id, PREFECTURE)
    assert notice in prefecture.refusals
    assert message.headers["nrm-key-id"] == b"hub-2026-1"
    assert prefecture.rejected == []


async def test_an_answer_to_an_unknown_request_through_the_gateway_is_notified_in_its_inbox(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    case_id = await open_permit_request(agency)
    token = demo_tokens(hub_settings.config_dir)[PREFECTURE]
    ack_id = uuid.uuid4()
    with served_gateway(hub_settings, max_wait_seconds=2.0) as url:
        async with GatewayClient(url, PREFECTURE, token) as client:
            receipt = await client.acknowledge(
                case_id, uuid.uuid4(), AckStatus.ACCEPTED, event_id=ack_id
            )
            assert receipt.event_id == ack_id  # 202: accepted for processing, not yet judged
            notice, _message = await notice_of(client, ack_id)
    assert_unknown_request(notice, case_id, PREFECTURE)
    # The inbox also holds notices from earlier tests on this broker, in partition order.
    assert notice in client.refusals


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[list[bytes], str]]:
    bodies: list[bytes] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                bodies.append(body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield bodies, f"http://127.0.0.1:{server.server_address[1]}/nrm"
    finally:
        server.shutdown()
        server.server_close()


async def test_the_notice_reaches_an_agency_that_reads_its_inbox_by_webhook(
    agency: AgencyFactory,
    hub_settings: HubSettings,
    webhook_receiver: tuple[list[bytes], str],
) -> None:
    bodies, url = webhook_receiver
    case_id = await open_permit_request(agency)
    prefecture = await agency(PREFECTURE)
    ack_id = uuid.uuid4()
    await prefecture.acknowledge(case_id, uuid.uuid4(), AckStatus.COMPLETED, event_id=ack_id)

    deliverer = WebhookDeliverer(
        hub_settings,
        PREFECTURE,
        WebhookTarget(url=url, secret="env:UNUSED_IN_TESTS", retry=RetryPolicy()),
        b"test-webhook-secret-0123456789",
        codec=Codec(SchemaRegistry.load(hub_settings.schemas_dir)),
        hub_public_key=(hub_settings.config_dir / "hub-public-key.txt").read_text().strip(),
        signer=HubSigner.from_pem(hub_settings.signing_key_path, hub_settings.signing_key_id),
        group_id=f"webhooks-{PREFECTURE}-{uuid.uuid4().hex[:8]}",
        rng=random.Random(7),
    )

    def posted_notice() -> dict[str, Any] | None:
        for body in list(bodies):
            item = json.loads(body)
            event = item["event"]
            if item["subject"] == "fr.nrm.RefusalNotice" and event["refused_event_id"] == str(
                ack_id
            ):
                return item
        return None

    async def delivered() -> dict[str, Any] | None:
        await deliverer.run_once(timeout_ms=200)
        return posted_notice()

    await deliverer.start()
    try:
        item = await eventually(delivered, timeout_s=WAIT_S, what="the notice posted")
    finally:
        await deliverer.stop()
    assert item is not None
    assert item["event"]["reason"] == "UNKNOWN_REQUEST"
    assert item["case_id"] == str(case_id)
