"""The gateway's ``/metrics``: Prometheus text that deploy/prometheus.yml can scrape."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import yaml
from gateway_fixtures import as_json, bearer, demo_tokens, served_gateway, story
from prometheus_client.parser import text_string_to_metric_families

from hub.runtime.settings import PROJECT_ROOT, HubSettings

POLICE = "police-93"
EVENTS = "/v1/agencies/{agency_id}/events"
INBOX = "/v1/agencies/{agency_id}/inbox"


@pytest.fixture(scope="module")
def gateway_url(hub_settings: HubSettings) -> Iterator[str]:
    with served_gateway(hub_settings) as url:
        yield url


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _requests(text: str, route: str, status: str, method: str = "POST") -> float:
    labels = frozenset({"method": method, "route": route, "status": status}.items())
    return _samples(text).get(("nrm_gateway_http_requests_total", labels), 0.0)


async def test_metrics_parse_as_prometheus_text_and_count_requests_by_route_template(
    gateway_url: str, hub_settings: HubSettings
) -> None:
    token = demo_tokens(hub_settings.config_dir)[POLICE]
    event = as_json(story(uuid.uuid4())["ReferralOpened"])
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30.0) as http:
        before = (await http.get("/metrics")).text
        published = await http.post(
            f"/v1/agencies/{POLICE}/events", json=event, headers=bearer(token)
        )
        assert published.status_code == 202, published.text
        refused = await http.post(f"/v1/agencies/{POLICE}/events", json=event)
        assert refused.status_code == 401
        polled = await http.get(
            f"/v1/agencies/{POLICE}/inbox", params={"wait": 0.1}, headers=bearer(token)
        )
        assert polled.status_code == 200
        answer = await http.get("/metrics")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    after = answer.text
    assert _requests(after, EVENTS, "202") == _requests(before, EVENTS, "202") + 1
    assert _requests(after, EVENTS, "401") == _requests(before, EVENTS, "401") + 1
    assert _requests(after, INBOX, "200", "GET") >= 1
    assert POLICE not in after  # route templates, never raw paths: no series per agency or case
    names = {family.name for family in text_string_to_metric_families(after)}
    assert {
        "nrm_gateway_http_requests",
        "nrm_gateway_http_request_duration_seconds",
        "nrm_gateway_publish_failures",
        "nrm_gateway_inbox_long_polls",
        "nrm_gateway_inbox_long_polls_in_progress",
    } <= names
    samples = _samples(after)
    assert samples[("nrm_gateway_inbox_long_polls_total", frozenset())] >= 1
    latency = frozenset({"method": "POST", "route": EVENTS, "le": "+Inf"}.items())
    assert samples[("nrm_gateway_http_request_duration_seconds_bucket", latency)] >= 2


def test_prometheus_scrapes_the_gateways_metrics_path() -> None:
    scrape = yaml.safe_load((PROJECT_ROOT / "deploy" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    assert jobs["nrm-gateway"]["metrics_path"] == "/metrics"
    assert jobs["nrm-gateway"]["static_configs"][0]["targets"] == ["gateway:8080"]
