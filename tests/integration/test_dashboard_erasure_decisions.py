"""A data-protection officer approves an erasure from the dashboard (issue 21, trust item 2),
on the real broker and worker: the approval is signed with the operator-action key (the
dashboard holds no hub key) and the worker erases the case; four eyes hold (the officer who
asked cannot approve, in the page or by posting the form by hand), a role without the
permission gets 403, and nothing is written for any refusal."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from eventually import eventually
from test_dashboard import dashboard_config, demo_passwords
from test_erasure_workflow import Agencies, requested, state_of, story
from worker_thread import AgencyFactory, WorkerThread

from agents.io.case_store import read_case
from connectors.dashboard.actions import OPERATOR_ACTIONS
from connectors.dashboard.app import create_dashboard_app
from connectors.serving import BackgroundServer
from hub.contracts.events import SupportRequested
from hub.runtime.logs import configure_logging
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics


@pytest.fixture(scope="module", autouse=True)
def _logs_to_stderr() -> None:
    configure_logging()  # as the hub CLI does: `hub erase pending --json` keeps stdout pure


@pytest.fixture
async def dashboard_url(hub_settings: HubSettings, tmp_path: Path) -> AsyncIterator[str]:
    await create_topics(hub_settings, [OPERATOR_ACTIONS])
    server = BackgroundServer(create_dashboard_app(hub_settings, dashboard_config(tmp_path)))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


async def signed_in(url: str, settings: HubSettings, operator: str) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=url, timeout=30.0)
    password = demo_passwords(settings.config_dir)[operator]
    answer = await http.post(
        "/connexion", data={"operateur": operator, "mot_de_passe": password, "suivant": "/"}
    )
    assert answer.status_code == 303, (operator, answer.text)
    return http


async def page_with(http: httpx.AsyncClient, request_id: str) -> str:
    async def listed() -> str | None:
        page = await http.get("/effacements")
        assert page.status_code == 200, page.text
        return page.text if request_id in page.text else None

    return await eventually(listed, timeout_s=30, interval_s=0.5, what=f"request {request_id}")


def csrf_of(page: str) -> str:
    return page.split('name="csrf" value="')[1].split('"')[0]


async def test_a_dpo_approves_from_the_dashboard_and_the_worker_erases(
    worker: WorkerThread,
    agency: AgencyFactory,
    hub_settings: HubSettings,
    dashboard_url: str,
) -> None:
    case_id = uuid.uuid4()
    await story(hub_settings, Agencies(agency), case_id, SupportRequested)
    request_id = await requested(hub_settings, case_id, "operateur.demo")
    dpo = await signed_in(dashboard_url, hub_settings, "dpo.demo")
    auditor = await signed_in(dashboard_url, hub_settings, "auditrice.demo")
    try:
        page = await page_with(dpo, request_id)
        assert f'action="/effacements/{request_id}/approbation"' in page
        refused = await auditor.post(  # the auditor reads, never decides (its own session)
            f"/effacements/{request_id}/approbation",
            data={"csrf": csrf_of((await auditor.get("/")).text)},
            headers={"Accept": "application/json"},
        )
        assert refused.status_code == 403
        approved = await dpo.post(
            f"/effacements/{request_id}/approbation",
            data={"csrf": csrf_of(page)},
            headers={"Accept": "application/json"},
        )
        assert approved.status_code == 200, approved.text
    finally:
        await dpo.aclose()
        await auditor.aclose()
    state = await state_of(
        hub_settings, case_id, "the case erased", lambda s: s.erased_at is not None
    )
    assert not state.erasure_requests


async def test_the_dpo_who_asked_cannot_approve_even_by_hand(
    worker: WorkerThread,
    agency: AgencyFactory,
    hub_settings: HubSettings,
    dashboard_url: str,
) -> None:
    case_id = uuid.uuid4()
    await story(hub_settings, Agencies(agency), case_id, SupportRequested)
    request_id = await requested(hub_settings, case_id, "dpo.demo")
    dpo = await signed_in(dashboard_url, hub_settings, "dpo.demo")
    try:
        page = await page_with(dpo, request_id)
        assert f'action="/effacements/{request_id}/approbation"' not in page
        assert "quatre yeux" in page
        own = await dpo.post(
            f"/effacements/{request_id}/approbation",
            data={"csrf": csrf_of(page)},
            headers={"Accept": "application/json"},
        )
        assert own.status_code == 403
        assert "quatre yeux" in own.text
        no_csrf = await dpo.post(f"/effacements/{request_id}/rejet", data={"motif": "x"})
        assert no_csrf.status_code == 403
        rejected = await dpo.post(  # a rejection needs the role only, as `hub erase reject`
            f"/effacements/{request_id}/rejet",
            data={"csrf": csrf_of(page), "motif": "procédure en cours"},
            headers={"Accept": "application/json"},
        )
        assert rejected.status_code == 200, rejected.text
    finally:
        await dpo.aclose()
    state = await state_of(
        hub_settings, case_id, "the request rejected", lambda s: not s.erasure_requests
    )
    assert state.erased_at is None
    assert (await read_case(hub_settings, case_id)) is not None
