"""The operators' dashboard and the worker's probes on the real embedded broker.

Refusals first (no session, an agency's gateway token, wrong or disabled credentials, a forged
or revoked cookie: never any data), then what a logged-in operator gets, what is recorded of
their actions, and the Prometheus metrics of the dashboard and of a worker moving with traffic.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from eventually import eventually, eventually_sync
from fastapi import FastAPI
from fastapi.routing import APIRoute
from flow_helpers import permit_chosen, prefecture_consent, received_for
from prometheus_client.parser import text_string_to_metric_families
from worker_thread import AgencyFactory, WorkerThread

from agents.stats import RouterStats
from connectors.dashboard.actions import OPERATOR_ACTIONS
from connectors.dashboard.app import create_dashboard_app
from connectors.dashboard.config import DashboardSettings
from connectors.dashboard.sessions import COOKIE_NAME
from connectors.serving import BackgroundServer
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics

UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")
OPEN_PATHS = {"/connexion", "/healthz", "/readyz", "/metrics"}
PAGE_PREFIXES = ("/", "/agences", "/dossiers/")


def demo_passwords(config_dir: Path) -> dict[str, str]:
    """operator id → its committed demo password (public, demo only)."""
    passwords: dict[str, str] = {}
    for line in (config_dir / "dev-keys" / "operators.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            operator, password = line.split()
            passwords[operator] = password
    return passwords


def gateway_tokens(config_dir: Path) -> dict[str, str]:
    tokens: dict[str, str] = {}
    for line in (config_dir / "dev-keys" / "gateway-tokens.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            agency, token = line.split()
            tokens[agency] = token
    return tokens


def dashboard_config(tmp: Path, **overrides: Any) -> DashboardSettings:
    values: dict[str, Any] = {
        "session_secret": None,
        "refresh_seconds": 1.0,
        "index_dir": tmp / "dashboard-index",
        "action_timeout_seconds": 5.0,
        "login_attempts": 50,
        "session_hours": 1.0,
        "secure_cookie": False,
        "operators_file": None,
    }
    values.update(overrides)
    return DashboardSettings.model_construct(**values)


@pytest.fixture(scope="module")
def dashboard_app(hub_settings: HubSettings, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    asyncio.run(create_topics(hub_settings, [OPERATOR_ACTIONS]))
    return create_dashboard_app(
        hub_settings, dashboard_config(tmp_path_factory.mktemp("dashboard"))
    )


@pytest.fixture(scope="module")
def dashboard_url(dashboard_app: FastAPI) -> Iterator[str]:
    server = BackgroundServer(dashboard_app).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def http(dashboard_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dashboard_url, timeout=30.0, follow_redirects=False) as client:
        yield client


def login(http: httpx.Client, operator: str, password: str) -> httpx.Response:
    return http.post(
        "/connexion",
        data={"operateur": operator, "mot_de_passe": password, "suivant": "/"},
    )


def data_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route that shows or changes data, ids filled in."""
    routes = []
    for route in app.routes:
        if not isinstance(route, APIRoute) or route.path in OPEN_PATHS:
            continue
        ids = {"case_id": uuid.uuid4(), "dead_letter_id": uuid.uuid4(), "request_id": uuid.uuid4()}
        path = route.path.format(**ids)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            routes.append((method, path))
    return routes


# ------------------------------------------------------------------ refusals


def test_without_a_session_no_route_gives_data(http: httpx.Client, dashboard_app: FastAPI) -> None:
    routes = data_routes(dashboard_app)
    assert ("GET", "/api/apercu") in routes
    assert ("GET", "/") in routes
    for method, path in routes:
        answer = http.request(method, path, data={"csrf": "x"})
        if method == "GET" and not path.startswith(("/api/", "/fragments/")):
            assert answer.status_code == 303, (method, path, answer.status_code)
            assert answer.headers["location"].startswith("/connexion"), path
        elif path == "/deconnexion":
            assert answer.status_code == 303, (method, path)
            assert answer.headers["location"].startswith("/connexion")
        else:
            assert answer.status_code == 401, (method, path, answer.status_code)
        assert "dossier" not in answer.text.lower() or answer.status_code == 303


def test_an_agency_gateway_token_cannot_open_the_dashboard(
    http: httpx.Client, hub_settings: HubSettings
) -> None:
    token = gateway_tokens(hub_settings.config_dir)["police-93"]
    bearer = {"Authorization": f"Bearer {token}"}
    page = http.get("/", headers=bearer)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/connexion")
    assert http.get("/api/apercu", headers=bearer).status_code == 401
    assert http.get("/fragments/apercu", headers=bearer).status_code == 401
    # Nor as a password, whatever id is typed with it.
    for operator in ("police-93", "police-93-7c679d2e", "operatrice.demo"):
        refused = login(http, operator, token)
        assert refused.status_code == 401, operator
        assert COOKIE_NAME not in refused.cookies
    # Nor as a cookie.
    http.cookies.set(COOKIE_NAME, token)
    assert http.get("/api/apercu").status_code == 401


def test_wrong_password_and_disabled_account_are_refused(
    http: httpx.Client, hub_settings: HubSettings
) -> None:
    passwords = demo_passwords(hub_settings.config_dir)
    wrong = login(http, "operatrice.demo", passwords["operatrice.demo"] + "x")
    assert wrong.status_code == 401
    assert "Identifiant ou mot de passe incorrect" in wrong.text
    assert COOKIE_NAME not in wrong.cookies
    disabled = login(http, "ancien.operateur", passwords["ancien.operateur"])
    assert disabled.status_code == 401
    unknown = login(http, "personne", "un mot de passe quelconque")
    assert unknown.status_code == 401


def test_a_forged_or_revoked_session_gives_no_data(
    http: httpx.Client, hub_settings: HubSettings
) -> None:
    passwords = demo_passwords(hub_settings.config_dir)
    answer = login(http, "operateur.demo", passwords["operateur.demo"])
    assert answer.status_code == 303
    cookie = answer.cookies[COOKIE_NAME]
    payload, mac = cookie.split(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + mac
    http.cookies.clear()
    http.cookies.set(COOKIE_NAME, forged)
    assert http.get("/api/apercu").status_code == 401
    http.cookies.clear()
    http.cookies.set(COOKIE_NAME, cookie)
    page = http.get("/")
    assert page.status_code == 200
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    assert http.post("/deconnexion", data={"csrf": "wrong"}).status_code == 403
    assert http.post("/deconnexion", data={"csrf": csrf}).status_code == 303
    http.cookies.clear()
    http.cookies.set(COOKIE_NAME, cookie)  # a copy of the cookie kept after logout
    assert http.get("/api/apercu").status_code == 401


# ------------------------------------------------------------------ a logged-in operator


async def operator_actions(settings: HubSettings, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        OPERATOR_ACTIONS.name,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **client_options(settings),
    )
    await consumer.start()
    found: list[dict[str, Any]] = []

    async def read_to_a_quiet_poll() -> bool:
        batch = await consumer.getmany(timeout_ms=300)
        for records in batch.values():
            found.extend(json.loads(r.value) for r in records if r.value)
        return not batch and bool(found)

    try:
        await eventually(read_to_a_quiet_poll, timeout_s=timeout_s, what="the operator actions")
    finally:
        await consumer.stop()
    return found


async def test_login_gives_data_and_is_recorded_as_an_operator_action(
    dashboard_url: str, hub_settings: HubSettings
) -> None:
    passwords = demo_passwords(hub_settings.config_dir)
    async with httpx.AsyncClient(base_url=dashboard_url, timeout=30.0) as http:
        answer = await http.post(
            "/connexion",
            data={"operateur": "operatrice.demo", "mot_de_passe": passwords["operatrice.demo"]},
        )
        assert answer.status_code == 303
        set_cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in set_cookie
        assert "samesite=strict" in set_cookie
        overview = await http.get("/api/apercu")
        assert overview.status_code == 200
        assert set(overview.json()) >= {"overdue", "holds", "orphans", "dead_letters", "agencies"}
        page = await http.get("/")
        assert page.status_code == 200
        assert '<html lang="fr">' in page.text
        assert "Demandes en retard" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    actions = await operator_actions(hub_settings)
    logins = [a for a in actions if a["operator"] == "operatrice.demo" and a["action"] == "LOGIN"]
    assert logins
    assert logins[-1]["schema"] == "nrm.operator-action.v1"
    refused = [a for a in actions if a["action"] == "LOGIN_REFUSED"]
    assert refused  # the refusals of the tests above
    assert all("mot_de_passe" not in json.dumps(a) for a in actions)


# ------------------------------------------------------------------ probes and metrics


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page, by (name, sorted labels)."""
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def test_dashboard_probes_and_metrics(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}

    def ready_answer() -> httpx.Response | None:
        answer = http.get("/readyz")
        return answer if answer.status_code == 200 else None

    ready = eventually_sync(ready_answer, timeout_s=30, interval_s=0.5, what="the dashboard ready")
    assert ready.status_code == 200, ready.text
    assert all(ready.json()["checks"].values())
    values = metric_values(http.get("/metrics").text)
    assert values[("nrm_dashboard_caught_up", ())] == 1.0
    requests = {
        labels: v
        for (name, labels), v in values.items()
        if name == "nrm_dashboard_http_requests_total"
    }
    assert any(dict(labels)["route"] == "/readyz" for labels in requests)
    routes = {dict(labels)["route"] for labels in requests}
    assert "/dossiers/{case_id}" in routes  # the template, never one series per case
    assert not any(UUID_TEXT.search(route) for route in routes)


@pytest.fixture(scope="module")
def health_worker(hub_settings: HubSettings) -> Iterator[WorkerThread]:
    running = WorkerThread(hub_settings, health=True).start()
    try:
        yield running
    finally:
        running.stop()


async def test_worker_metrics_move_with_traffic(
    health_worker: WorkerThread, agency: AgencyFactory
) -> None:
    async with httpx.AsyncClient(base_url=health_worker.health_url, timeout=10.0) as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {
            "broker": True,
            "assignments": True,
            "partitions": True,
            "registry": True,
            "directory": True,
        }
        before = metric_values((await http.get("/metrics")).text)
        case_id = uuid.uuid4()
        police = await agency("police-93")
        prefecture = await agency("prefecture-93")
        await police.publish(prefecture_consent(case_id))
        for event in permit_chosen(case_id):  # the person's choice raises the permit request
            await police.publish(event)
        assert len(await received_for(prefecture, case_id, 1, timeout_s=20)) == 1
        after = metric_values((await http.get("/metrics")).text)
    records = ("nrm_router_records_total", ())
    assert after[records] > before.get(records, 0)
    delivered = ("nrm_router_decisions_total", (("kind", "delivered"),))
    assert after[delivered] > before.get(delivered, 0)
    opened = ("nrm_router_deadlines_open", (("step", "NONE"),))
    assert after[opened] >= 1
    assert after[("nrm_router_settled", ())] == 1.0
    assert any(name == "nrm_router_consumer_lag" for name, _ in after)
    assert ("process_resident_memory_bytes", ()) in after
    if hasattr(RouterStats(), "events_in"):  # the per-type counters and the histograms
        permit = ("type", "fr.nrm.PermitRequested")
        choice = ("type", "fr.nrm.PathwayChoiceRecorded")
        inbound = ("nrm_router_events_in_total", (("topic", "nrm.outbox.police-93"), choice))
        assert after[inbound] > before.get(inbound, 0)
        outbound = ("nrm_router_events_out_total", (("topic", "nrm.inbox.prefecture-93"), permit))
        assert after[outbound] > before.get(outbound, 0)
        routed = ("nrm_router_audit_entries_total", (("action", "ROUTED"),))
        assert after[routed] > before.get(routed, 0)
        batches = ("nrm_router_batch_duration_seconds_count", ())
        assert after[batches] > before.get(batches, 0)
        latency = ("nrm_router_record_latency_seconds_count", ())
        assert after[latency] > before.get(latency, 0)
