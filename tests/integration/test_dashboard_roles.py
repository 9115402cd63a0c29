"""Operator roles on the real dashboard and broker (issue 21 item 6): least privilege.

A case of Seine-Saint-Denis (93, Île-de-France) is routed by a real worker; then the Grand Est
coordination cannot open it (403), the Île-de-France coordination can; the auditor reads but
cannot re-drive; the data-protection officer does not get the operations overview; every
refusal and the roles the dashboard started with are in ``nrm.operator-actions``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import pytest
from eventually import eventually_sync
from fastapi import FastAPI
from flow_helpers import permit_chosen, prefecture_consent, received_for
from test_dashboard import dashboard_config, demo_passwords, login, operator_actions
from test_erasure_workflow import invoke
from worker_thread import WorkerThread

from connectors.client.dev import dev_client
from connectors.dashboard.actions import OPERATOR_ACTIONS
from connectors.dashboard.app import create_dashboard_app
from connectors.serving import BackgroundServer
from hub.contracts.enums import AckStatus
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    Acknowledgement,
)
from hub.runtime.logs import configure_logging
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics


@pytest.fixture(scope="module")
def roles_app(hub_settings: HubSettings, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    asyncio.run(create_topics(hub_settings, [OPERATOR_ACTIONS]))
    return create_dashboard_app(hub_settings, dashboard_config(tmp_path_factory.mktemp("roles")))


@pytest.fixture(scope="module")
def roles_url(roles_app: FastAPI) -> Iterator[str]:
    server = BackgroundServer(roles_app).start()
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def client_of(url: str, settings: HubSettings, operator: str) -> Iterator[httpx.Client]:
    """An HTTP client logged in as ``operator`` (a demo operator)."""
    with httpx.Client(base_url=url, timeout=30.0, follow_redirects=False) as http:
        answer = login(http, operator, demo_passwords(settings.config_dir)[operator])
        assert answer.status_code == 303, (operator, answer.text)
        yield http


@pytest.fixture(scope="module")
def case_93(
    worker: WorkerThread, hub_settings: HubSettings, roles_app: FastAPI, roles_url: str
) -> uuid.UUID:
    """A case routed by the worker (police-93 → prefecture-93), known to the read model."""

    async def route() -> uuid.UUID:
        case_id = uuid.uuid4()
        police = dev_client(hub_settings, "police-93")
        prefecture = dev_client(hub_settings, "prefecture-93")
        await police.start()
        await prefecture.start()
        try:
            await police.publish(prefecture_consent(case_id))
            for event in permit_chosen(case_id):  # her choice raises the permit request
                await police.publish(event)
            assert len(await received_for(prefecture, case_id, 1, timeout_s=30)) == 1
            # One dead letter a re-drive could help (an answer to a request the hub does not
            # know yet), so that the overview offers « Relancer » to who may use it.
            await prefecture.publish(
                Acknowledgement(
                    envelope=Envelope(
                        event_id=uuid.uuid4(), case_id=case_id, occurred_at=datetime.now(UTC)
                    ),
                    request_id=uuid.uuid4(),
                    status=AckStatus.ACCEPTED,
                )
            )
        finally:
            await police.stop()
            await prefecture.stop()
        return case_id

    case_id = asyncio.run(route())
    model = roles_app.state.dashboard.model
    # Its département, not only its first state: a case whose département the read model does
    # not know yet is outside every région, and a regional operator would be refused it.
    eventually_sync(
        lambda: any(s.case_id == case_id and s.facts.departement == "93" for s in model.states),
        timeout_s=30,
        what="the case and its département in the dashboard's read model",
    )
    return case_id


def test_a_regional_operator_cannot_open_a_case_of_another_region(
    roles_url: str, hub_settings: HubSettings, case_93: uuid.UUID
) -> None:
    with client_of(roles_url, hub_settings, "coordination.grand-est") as http:
        refused = http.get(f"/dossiers/{case_93}")
        assert refused.status_code == 403
        assert "hors de la région GES" in refused.text
        assert str(case_93) not in http.get("/api/apercu").text  # nor in its lists
    with client_of(roles_url, hub_settings, "coordination.idf") as http:
        assert http.get(f"/dossiers/{case_93}").status_code == 200
    with client_of(roles_url, hub_settings, "operatrice.demo") as http:  # national
        assert http.get(f"/dossiers/{case_93}").status_code == 200


def test_an_auditor_reads_but_cannot_redrive(
    roles_url: str, hub_settings: HubSettings, case_93: uuid.UUID
) -> None:
    with client_of(roles_url, hub_settings, "operatrice.demo") as http:
        eventually_sync(
            lambda: 'class="js-relance"' in http.get("/").text,
            timeout_s=30,
            what="a dead letter with its re-drive button for national coordination",
        )
    with client_of(roles_url, hub_settings, "auditrice.demo") as http:
        assert http.get(f"/dossiers/{case_93}").status_code == 200
        page = http.get("/")
        assert page.status_code == 200
        assert "Audit (lecture seule)" in page.text
        assert 'class="js-relance"' not in page.text  # no re-drive button offered
        assert 'href="/effacements"' not in page.text  # nor a page it may not open
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        refused = http.post(f"/lettres-mortes/{uuid.uuid4()}/relance", data={"csrf": csrf})
        assert refused.status_code == 403  # refused before anything is looked up


def test_the_data_protection_officer_does_not_get_the_operations_overview(
    roles_url: str, hub_settings: HubSettings
) -> None:
    with client_of(roles_url, hub_settings, "dpo.demo") as http:
        assert http.get("/api/apercu").status_code == 403
        assert http.get("/agences").status_code == 403


async def test_refusals_and_the_roles_loaded_are_recorded(
    roles_url: str, hub_settings: HubSettings, case_93: uuid.UUID
) -> None:
    actions = await operator_actions(hub_settings)
    roles = {a["operator"]: a["detail"] for a in actions if a["action"] == "ROLES_LOADED"}
    assert roles["coordination.idf"] == "REGIONAL_COORDINATION/IDF"
    assert roles["dpo.demo"] == "DATA_PROTECTION_OFFICER"
    refused = [a for a in actions if a["action"] == "ACCESS_REFUSED"]
    assert any(
        a["operator"] == "coordination.grand-est" and a["case_id"] == str(case_93) for a in refused
    )
    assert any(a["operator"] == "auditrice.demo" and "REDRIVE" in a["detail"] for a in refused)


def test_the_dpo_sees_pending_erasure_requests_and_others_do_not(
    roles_url: str, hub_settings: HubSettings, case_93: uuid.UUID
) -> None:
    configure_logging()
    asked = invoke(
        hub_settings,
        "erase",
        "request",
        str(case_93),
        "--by",
        "coordination.idf",
        "--reason",
        "demande de la personne",
        "--yes",
    )
    assert asked.exit_code == 0, asked.output
    with client_of(roles_url, hub_settings, "dpo.demo") as http:
        home = http.get("/")
        assert home.status_code == 303
        assert home.headers["location"] == "/effacements"

        def listed() -> bool:
            page = http.get("/effacements")
            assert page.status_code == 200
            return str(case_93)[:8] in page.text and "coordination.idf" in page.text

        eventually_sync(listed, timeout_s=30, what="the pending request on the DPO's page")
        case_page = http.get(f"/dossiers/{case_93}")
        assert case_page.status_code == 200
        assert 'id="effacement-en-attente"' in case_page.text
    for operator in ("coordination.idf", "auditrice.demo"):
        with client_of(roles_url, hub_settings, operator) as http:
            assert http.get("/effacements").status_code == 403, operator
    refused = invoke(
        hub_settings,
        "erase",
        "request",
        str(case_93),
        "--by",
        "coordination.grand-est",
        "--reason",
        "x",
        "--yes",
    )
    assert refused.exit_code == 2  # a regional operator cannot ask for another région's case
    assert "hors de la région GES" in refused.output
