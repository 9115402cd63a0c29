"""The gateway and the shared indicator grid: an event carrying a code outside the grid (or a
form-specific code on another form) is refused at publish with 422 and the dead-letter reason,
as JSON or as an Avro frame; the grid is served to agencies and listed in the OpenAPI document
(a gateway served on loopback, over the real embedded broker)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from gateway_fixtures import as_json, bearer, demo_tokens, served_gateway, story

from connectors.gateway.openapi import openapi_document
from connectors.gateway.problems import PROBLEM_MEDIA_TYPE
from hub.contracts.codec import Codec
from hub.contracts.registry import SchemaRegistry
from hub.rules.indicators import IndicatorGrid
from hub.runtime.settings import HubSettings

POLICE = "police-93"
EVENTS = f"/v1/agencies/{POLICE}/events"


@pytest.fixture(scope="module")
def police(hub_settings: HubSettings) -> dict[str, str]:
    return bearer(demo_tokens(hub_settings.config_dir)[POLICE])


@pytest.fixture(scope="module")
def gateway_url(hub_settings: HubSettings) -> Iterator[str]:
    with served_gateway(hub_settings) as url:
        yield url


@pytest.fixture
async def http(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30.0) as client:
        yield client


def referral(**changes: Any) -> dict[str, Any]:
    body = as_json(story(uuid.uuid4())["ReferralOpened"])
    body["event"].update(changes)
    return body


def problem(answer: httpx.Response, reason: str) -> str:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    document: dict[str, Any] = answer.json()
    assert (document["reason"], document["status"]) == (reason, 422)
    assert document["type"] == f"urn:nrm-hub:problem:{reason}"
    detail: str = document["detail"]
    return detail


async def test_an_unknown_code_is_refused_at_publish_with_its_reason(
    http: httpx.AsyncClient, police: dict[str, str]
) -> None:
    answer = await http.post(
        EVENTS, json=referral(indicator_codes=["ILO-FL-07", "TRAV-01"]), headers=police
    )
    detail = problem(answer, "UNKNOWN_INDICATOR")
    assert "'TRAV-01'" in detail
    assert detail.startswith("fr.nrm.ReferralOpened: ")

    hidden = referral(exploitation={"indicator_codes": ["passeport retenu"]})
    assert "'passeport retenu'" in problem(
        await http.post(EVENTS, json=hidden, headers=police), "UNKNOWN_INDICATOR"
    )


async def test_an_avro_frame_with_an_unknown_code_is_refused_the_same_way(
    http: httpx.AsyncClient, police: dict[str, str], hub_settings: HubSettings
) -> None:
    event = story(uuid.uuid4())["ReferralOpened"].model_copy(
        update={"indicator_codes": ("CTRL-02",)}
    )
    frame = Codec(SchemaRegistry.load(hub_settings.schemas_dir)).encode_event(event)
    answer = await http.post(
        EVENTS, content=frame, headers={**police, "Content-Type": "application/vnd.nrm.avro"}
    )
    assert "'CTRL-02'" in problem(answer, "UNKNOWN_INDICATOR")


async def test_a_form_specific_code_needs_its_form(
    http: httpx.AsyncClient, police: dict[str, str]
) -> None:
    labour = referral(indicator_codes=["UNODC-SX-01"])
    detail = problem(
        await http.post(EVENTS, json=labour, headers=police), "INDICATOR_FORM_MISMATCH"
    )
    assert "UNODC-SX-01 is specific to SEXUAL" in detail
    sexual = referral(indicator_codes=["UNODC-SX-01"], exploitation_types=["SEXUAL"])
    answer = await http.post(EVENTS, json=sexual, headers=police)
    assert answer.status_code == 202, answer.text


async def test_agencies_read_the_grid_they_must_use(
    http: httpx.AsyncClient, hub_settings: HubSettings
) -> None:
    grid = IndicatorGrid.load(hub_settings.config_dir)
    answer = await http.get("/v1/indicators")  # public: the grid names no case
    assert answer.status_code == 200, answer.text
    served = answer.json()
    assert served["version"] == grid.version
    assert [i["code"] for i in served["indicators"]] == list(grid.usable_codes())
    first = served["indicators"][0]
    assert (first["label_fr"], first["label_en"]) == (
        "Abus de vulnérabilité",
        "Abuse of vulnerability",
    )
    assert first["link"].startswith("https://")


def test_the_openapi_document_lists_the_grid_codes(hub_settings: HubSettings) -> None:
    document = openapi_document()
    codes = document["components"]["schemas"]["IndicatorCode"]["enum"]
    assert codes == list(IndicatorGrid.load(hub_settings.config_dir).usable_codes())
    assert "/v1/indicators" in document["paths"]
