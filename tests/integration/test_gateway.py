"""The HTTP gateway against the real embedded broker and the real routing worker.

Agencies publish, read their inbox and acknowledge over HTTP on loopback; the worker routes
what the gateway signed for them exactly like what the Kafka client signs.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from gateway_fixtures import (
    as_json,
    bearer,
    demo_tokens,
    gateway_test_settings,
    read_until,
    served_gateway,
    story,
)
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from connectors.api_documents import render
from connectors.client.gateway_client import GatewayClient, GatewayError
from connectors.gateway.app import create_gateway_app
from connectors.gateway.models import AVRO_MEDIA_TYPE
from connectors.gateway.openapi import OPENAPI_FILE, openapi_document
from connectors.gateway.problems import PROBLEM_MEDIA_TYPE
from hub.contracts.codec import Codec
from hub.contracts.enums import AckStatus, DeclineReason
from hub.contracts.events import AccommodationRequested, Acknowledgement
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import all_topics
from hub.runtime.broker import EmbeddedBroker
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics

POLICE, ASSOCIATION = "police-93", "association-93"


@pytest.fixture(scope="module")
def tokens(hub_settings: HubSettings) -> dict[str, str]:
    return demo_tokens(hub_settings.config_dir)


@pytest.fixture(scope="module")
def gateway_url(hub_settings: HubSettings) -> Iterator[str]:
    with served_gateway(hub_settings, max_wait_seconds=2.0) as url:
        yield url


@pytest.fixture
async def http(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30.0) as client:
        yield client


def assert_problem(answer: httpx.Response, status: int, reason: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    problem: dict[str, Any] = answer.json()
    assert problem["reason"] == reason, problem
    assert problem["status"] == status
    assert problem["type"].endswith(reason)
    assert problem["title"]
    assert problem["detail"]
    return problem


# ------------------------------------------------------------------ credentials, every endpoint


def agency_operations() -> list[tuple[str, str]]:
    """(method, path template) of every endpoint that acts for an agency, from the OpenAPI."""
    document = openapi_document()
    return [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        if "{agency_id}" in path
        for method in operations
    ]


def test_every_agency_endpoint_is_in_the_credentials_table() -> None:
    operations = agency_operations()
    assert {path for _m, path in operations} == {
        "/v1/agencies/{agency_id}/events",
        "/v1/agencies/{agency_id}/inbox",
        "/v1/agencies/{agency_id}/acknowledgements",
    }


@pytest.mark.parametrize(("method", "path"), agency_operations())
async def test_every_endpoint_refuses_missing_wrong_and_cross_agency_credentials(
    http: httpx.AsyncClient, tokens: dict[str, str], method: str, path: str
) -> None:
    url = path.format(agency_id=POLICE)
    body: dict[str, Any] = (
        {"json": {"subject": "fr.nrm.ReferralOpened", "event": {}}} if method == "POST" else {}
    )
    police_id = tokens[POLICE].split(".")[1]
    wrong_secret = f"nrm.{police_id}.{'A' * 43}"
    refused = {
        "missing": {},
        "not bearer": {"Authorization": f"Basic {tokens[POLICE]}"},
        "empty bearer": {"Authorization": "Bearer"},
        "garbage": bearer("let-me-in"),
        "wrong secret": bearer(wrong_secret),
        "unknown token id": bearer(f"nrm.police-93-00000000.{'A' * 43}"),
    }
    for case, headers in refused.items():
        answer = await http.request(method, url, headers=headers, **body)
        problem = assert_problem(answer, 401, "UNAUTHENTICATED")
        assert answer.headers["www-authenticate"].startswith("Bearer"), case
        assert tokens[POLICE] not in problem["detail"]
    # A valid token of another agency: never the police's resources, whatever is asked.
    answer = await http.request(method, url, headers=bearer(tokens[ASSOCIATION]), **body)
    assert_problem(answer, 403, "FORBIDDEN")


async def test_an_agency_never_reads_another_agencys_inbox(
    http: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    for victim in (POLICE, "prefecture-93", "hopital-93"):
        answer = await http.get(f"/v1/agencies/{victim}/inbox", headers=bearer(tokens[ASSOCIATION]))
        assert_problem(answer, 403, "FORBIDDEN")
    own = await http.get(f"/v1/agencies/{POLICE}/inbox", headers=bearer(tokens[POLICE]))
    assert own.status_code == 200, own.text
    # A police cursor is not accepted from the association either (400, not a read).
    answer = await http.get(
        f"/v1/agencies/{ASSOCIATION}/inbox",
        params={"cursor": own.json()["cursor"]},
        headers=bearer(tokens[ASSOCIATION]),
    )
    assert_problem(answer, 400, "INVALID_CURSOR")


# ------------------------------------------------------------------ payloads


async def test_oversize_bodies_are_refused_with_413(
    http: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    url = f"/v1/agencies/{POLICE}/events"
    big = {"subject": "fr.nrm.ReferralOpened", "event": {"padding": "x" * (70 * 1024)}}
    answer = await http.post(url, json=big, headers=bearer(tokens[POLICE]))
    assert_problem(answer, 413, "OVERSIZE")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(80):
            yield b"x" * 1024

    answer = await http.post(
        url,
        content=chunks(),
        headers={**bearer(tokens[POLICE]), "Content-Type": "application/json"},
    )
    assert_problem(answer, 413, "OVERSIZE")


async def test_invalid_payloads_are_refused_with_the_dead_letter_reason(
    http: httpx.AsyncClient, tokens: dict[str, str], hub_settings: HubSettings
) -> None:
    case_id = uuid.uuid4()
    events = story(case_id)
    referral = as_json(events["ReferralOpened"])
    url = f"/v1/agencies/{POLICE}/events"
    police = bearer(tokens[POLICE])

    def with_event(**changes: Any) -> dict[str, Any]:
        return {"subject": referral["subject"], "event": {**referral["event"], **changes}}

    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("missing field", with_event(person=None), 422, "SCHEMA_VIOLATION"),
        ("bad département", with_event(departement="99"), 422, "SCHEMA_VIOLATION"),
        ("unknown subject", {"subject": "fr.nrm.Nope", "event": {}}, 422, "UNKNOWN_SCHEMA_ID"),
        (
            "hub-only type",
            as_json(events["Escalation"]),
            422,
            "SEMANTIC_VIOLATION",
        ),
        ("not a publish request", {"event": referral["event"]}, 400, "MALFORMED_REQUEST"),
        (
            "another sender",
            with_event(envelope={**referral["event"]["envelope"], "sender": "prefecture-93"}),
            403,
            "SPOOFED_SENDER",
        ),
    ]
    for name, body, status, reason in cases:
        answer = await http.post(url, json=body, headers=police)
        assert (answer.status_code, answer.json()["reason"]) == (status, reason), name
        assert_problem(answer, status, reason)

    answer = await http.post(
        f"/v1/agencies/{ASSOCIATION}/events",
        json=referral,
        headers=bearer(tokens[ASSOCIATION]),
    )
    assert_problem(answer, 403, "NOT_AN_IDENTIFYING_AUTHORITY")

    answer = await http.post(
        url, content=b"{not json", headers={**police, "Content-Type": "application/json"}
    )
    assert_problem(answer, 400, "MALFORMED_REQUEST")
    answer = await http.post(
        url,
        content=b"\x00\x00\x00\x00\x01garbage",
        headers={**police, "Content-Type": "application/vnd.nrm.avro"},
    )
    assert_problem(answer, 400, "CORRUPT_FRAME")
    answer = await http.post(
        url,
        content=b"\x00\x00\x00\x10\x92\x02",
        headers={**police, "Content-Type": "application/vnd.nrm.avro"},
    )
    assert_problem(answer, 422, "UNKNOWN_SCHEMA_ID")
    answer = await http.post(url, content=b"<xml/>", headers={**police, "Content-Type": "text/xml"})
    assert_problem(answer, 415, "UNSUPPORTED_MEDIA_TYPE")

    ack = f"/v1/agencies/{POLICE}/acknowledgements"
    declined = {"case_id": str(case_id), "request_id": str(uuid.uuid4()), "status": "DECLINED"}
    assert_problem(await http.post(ack, json=declined, headers=police), 422, "SCHEMA_VIOLATION")
    as_event = as_json(events["Acknowledgement"])  # the same answer as an event, via /events
    as_event["event"].update(status="DECLINED", decline_reason=None)
    assert_problem(await http.post(url, json=as_event, headers=police), 422, "SCHEMA_VIOLATION")
    answer = await http.post(ack, json={**declined, "status": "MAYBE"}, headers=police)
    assert_problem(answer, 422, "SCHEMA_VIOLATION")
    answer = await http.get(f"/v1/agencies/{POLICE}/inbox", params={"limit": 0}, headers=police)
    assert_problem(answer, 400, "MALFORMED_REQUEST")


# ------------------------------------------------------------------ through the real worker


@pytest.mark.usefixtures("worker")
async def test_an_event_published_through_the_gateway_is_routed_and_read_from_the_recipients_inbox(
    http: httpx.AsyncClient, tokens: dict[str, str], hub_settings: HubSettings
) -> None:
    case_id = uuid.uuid4()
    events = story(case_id)
    codec = Codec(SchemaRegistry.load(hub_settings.schemas_dir))

    consent = await http.post(
        f"/v1/agencies/{ASSOCIATION}/events",
        json=as_json(events["ConsentGiven"]),
        headers=bearer(tokens[ASSOCIATION]),
    )
    assert consent.status_code == 202, consent.text
    # The referral as a Confluent-framed Avro body this time: both forms are accepted.
    published = await http.post(
        f"/v1/agencies/{POLICE}/events",
        content=codec.encode_event(events["ReferralOpened"]),
        headers={**bearer(tokens[POLICE]), "Content-Type": "application/vnd.nrm.avro"},
    )
    assert published.status_code == 202, published.text
    receipt = published.json()
    assert receipt["case_id"] == str(case_id)
    assert receipt["subject"] == "fr.nrm.ReferralOpened"

    delivered = await read_until(
        http,
        ASSOCIATION,
        tokens[ASSOCIATION],
        lambda m: m["case_id"] == str(case_id) and m["subject"] == "fr.nrm.ReferralOpened",
    )
    envelope = delivered["event"]["envelope"]
    assert envelope["sender"] == POLICE  # set by the hub from the verified signature
    assert envelope["causation_id"] == receipt["event_id"]
    assert delivered["event"]["person"]["first_name"] == "Amina"


@pytest.mark.usefixtures("worker")
async def test_an_acknowledgement_through_the_gateway_reaches_the_requester(
    http: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    case_id = uuid.uuid4()
    events = story(case_id)
    provider = "reseau-national-eloignement"  # remote placement asked: the national network
    request = events["AccommodationRequested"]
    for agency, event in ((ASSOCIATION, events["ConsentGiven"]), (POLICE, request)):
        answer = await http.post(
            f"/v1/agencies/{agency}/events", json=as_json(event), headers=bearer(tokens[agency])
        )
        assert answer.status_code == 202, answer.text

    received = await read_until(
        http, provider, tokens[provider], lambda m: m["case_id"] == str(case_id)
    )
    assert received["event"]["request_id"] == str(request.request_id)  # type: ignore[attr-defined]
    ack_id = uuid.uuid4()
    answer = await http.post(
        f"/v1/agencies/{provider}/acknowledgements",
        json={
            "case_id": str(case_id),
            "request_id": received["event"]["request_id"],
            "status": "ACCEPTED",
            "detail": "place disponible ce soir",
            "event_id": str(ack_id),
            "causation_id": received["event_id"],
        },
        headers=bearer(tokens[provider]),
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["event_id"] == str(ack_id)

    answered = await read_until(
        http,
        POLICE,
        tokens[POLICE],
        lambda m: m["case_id"] == str(case_id) and m["subject"] == "fr.nrm.Acknowledgement",
    )
    assert answered["event"]["status"] == "ACCEPTED"
    assert answered["event"]["envelope"]["sender"] == provider


# ------------------------------------------------------------------ limits and outages


async def test_past_its_rate_an_agency_gets_429_with_retry_after(
    hub_settings: HubSettings, tokens: dict[str, str]
) -> None:
    app = create_gateway_app(
        hub_settings, gateway_test_settings(rate_per_second=0.01, rate_burst=2)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        url = f"/v1/agencies/{POLICE}/events"
        for _ in range(2):  # refused payloads still count: the bucket is per request
            answer = await client.post(url, json={}, headers=bearer(tokens[POLICE]))
            assert answer.status_code == 400
        answer = await client.post(url, json={}, headers=bearer(tokens[POLICE]))
        assert_problem(answer, 429, "RATE_LIMITED")
        assert int(answer.headers["retry-after"]) >= 1
        # Another agency has its own bucket.
        answer = await client.post(
            f"/v1/agencies/{ASSOCIATION}/events", json={}, headers=bearer(tokens[ASSOCIATION])
        )
        assert answer.status_code == 400


async def test_while_the_broker_is_down_the_gateway_answers_503_never_500(
    tmp_path: Path, tokens: dict[str, str], hub_settings: HubSettings
) -> None:
    own = EmbeddedBroker(log_path=tmp_path / "tansu.log").start()
    try:
        settings = hub_settings.model_copy(update={"bootstrap_servers": own.bootstrap_servers})
        await create_topics(settings, all_topics([POLICE]))
        referral = as_json(story(uuid.uuid4())["ReferralOpened"])
        with served_gateway(settings) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
                police = bearer(tokens[POLICE])
                events = f"/v1/agencies/{POLICE}/events"
                assert (await client.post(events, json=referral, headers=police)).status_code == 202
                assert (await client.get("/readyz")).status_code == 200

                own.stop()
                started = time.monotonic()
                answer = await client.post(events, json=referral, headers=police)
                assert_problem(answer, 503, "BROKER_UNAVAILABLE")
                assert answer.headers["retry-after"]
                assert time.monotonic() - started < 10
                inbox = await client.get(f"/v1/agencies/{POLICE}/inbox", headers=police)
                assert_problem(inbox, 503, "BROKER_UNAVAILABLE")
                ack = await client.post(
                    f"/v1/agencies/{POLICE}/acknowledgements",
                    json={
                        "case_id": str(uuid.uuid4()),
                        "request_id": str(uuid.uuid4()),
                        "status": "COMPLETED",
                    },
                    headers=police,
                )
                assert_problem(ack, 503, "BROKER_UNAVAILABLE")
                assert_problem(await client.get("/readyz"), 503, "BROKER_UNAVAILABLE")
                assert (await client.get("/healthz")).status_code == 200
                scraped = (await client.get("/metrics")).text
                failed = 'nrm_gateway_publish_failures_total{reason="BROKER_UNAVAILABLE"} 2.0'
                assert failed in scraped  # the publish and the acknowledgement

        # A gateway started while the broker is down answers the same way.
        with served_gateway(settings) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
                answer = await client.post(
                    f"/v1/agencies/{POLICE}/events", json=referral, headers=bearer(tokens[POLICE])
                )
                assert_problem(answer, 503, "BROKER_UNAVAILABLE")
    finally:
        own.stop()


# ------------------------------------------------------------------ the API contract


def test_the_checked_in_openapi_document_is_current() -> None:
    current = OPENAPI_FILE.read_text(encoding="utf-8")
    assert current == render(openapi_document()), (
        "docs/openapi.json is stale: run .venv/bin/python -m connectors.gateway.openapi --write"
    )
    document = json.loads(current)
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@pytest.fixture(scope="module")
def fuzzed_url(hub_settings: HubSettings) -> Iterator[str]:
    """A gateway whose long-polls end fast: generated requests ask for any wait."""
    with served_gateway(hub_settings, max_wait_seconds=0.2) as url:
        yield url


# Loaded at collection (no broker needed). schemathesis' lazy ``from_fixture`` loader does
# not work with pytest 9 (it sets the removed ``Node._nodeid``).
api = schemathesis.openapi.from_dict(openapi_document())
schemathesis.serializer.alias(AVRO_MEDIA_TYPE, "application/octet-stream")  # random bytes


# schemathesis' own strategies use the `random` module, which hypothesis deprecates.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@api.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_makes_the_gateway_fail(
    case: Any, fuzzed_url: str, tokens: dict[str, str]
) -> None:
    """Property: whatever schemathesis sends, valid-looking or not, no answer is a 5xx."""
    if "agency_id" in (case.path_parameters or {}):
        case.path_parameters["agency_id"] = POLICE
    case.call_and_validate(
        base_url=fuzzed_url,
        headers=bearer(tokens[POLICE]),
        checks=[not_a_server_error],
        timeout=30,
    )


def test_the_demo_tokens_cover_every_agency_of_the_directory(hub_settings: HubSettings) -> None:
    from hub.rules.directory import Directory

    directory = Directory.load(hub_settings.config_dir)
    assert set(demo_tokens(hub_settings.config_dir)) == {a.id for a in directory}


# ------------------------------------------------------------------ the Python client over HTTP


@pytest.mark.usefixtures("worker")
async def test_the_gateway_client_publishes_receives_each_event_once_and_acknowledges(
    gateway_url: str, tokens: dict[str, str], hub_settings: HubSettings
) -> None:
    case_id = uuid.uuid4()
    events = story(case_id)
    provider = "reseau-national-eloignement"
    codec = Codec(SchemaRegistry.load(hub_settings.schemas_dir))
    async with (
        GatewayClient(gateway_url, POLICE, tokens[POLICE], codec=codec) as police,
        GatewayClient(gateway_url, ASSOCIATION, tokens[ASSOCIATION]) as association,
        GatewayClient(gateway_url, provider, tokens[provider]) as network,
    ):
        await network.receive(expected=10**6, timeout_s=2.0)  # skip what earlier tests left
        await police.receive(expected=10**6, timeout_s=2.0)
        start = network.cursor

        await association.publish(events["ConsentGiven"])
        request = events["AccommodationRequested"]
        assert isinstance(request, AccommodationRequested)
        receipt = await police.publish(request)  # Confluent-framed Avro, since a codec is set
        assert receipt.case_id == case_id

        received = await network.receive(expected=1, timeout_s=20.0)
        assert [type(m.event) for m in received] == [type(request)]
        assert received[0].event.request_id == request.request_id  # type: ignore[attr-defined]

        network.cursor = start  # a lost answer: the same page is read again
        assert await network.receive(expected=1, timeout_s=2.0) == []
        assert network.redelivered == 1

        await network.acknowledge(
            case_id, request.request_id, "DECLINED", decline_reason=DeclineReason.NO_CAPACITY
        )
        answers = await police.receive(expected=1, timeout_s=20.0)
        assert len(answers) == 1
        ack = answers[0].event
        assert isinstance(ack, Acknowledgement)
        assert ack.status is AckStatus.DECLINED
        assert ack.decline_reason is DeclineReason.NO_CAPACITY

        with pytest.raises(GatewayError) as refused:
            await police.publish(events["Escalation"])
        assert (refused.value.status, refused.value.reason) == (422, "SEMANTIC_VIOLATION")
