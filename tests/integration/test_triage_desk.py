"""The triage body's desk on the dashboard, on the real broker through a routing worker.

Least privilege and honest answers: only national coordination triages (a regional operator,
an auditor, a DPO get 403); a decision needs the session's CSRF token; a report closed with a
reason shows "done" to its reporter (never why) and cannot be decided twice.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from eventually import eventually_sync
from fastapi import FastAPI
from worker_thread import WorkerThread

from connectors.dashboard.actions import OPERATOR_ACTIONS
from connectors.dashboard.app import create_dashboard_app
from connectors.dashboard.config import DashboardSettings
from connectors.public_report.app import create_public_report_app
from connectors.public_report.config import PublicReportSettings
from connectors.serving import BackgroundServer
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics

FORM_TOKEN = re.compile(r'name="jeton" value="([^"]+)"')
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
REFERENCE = re.compile(r'<output id="reference">([A-Z2-7-]+)</output>')


def passwords(config_dir: Path) -> dict[str, str]:
    lines = (config_dir / "dev-keys" / "operators.txt").read_text().splitlines()
    return dict(line.split() for line in lines if line.strip() and not line.startswith("#"))


@pytest.fixture(scope="module")
def urls(
    hub_settings: HubSettings, worker: WorkerThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    asyncio.run(create_topics(hub_settings, [OPERATOR_ACTIONS]))
    values: dict[str, Any] = {
        "session_secret": None,
        "refresh_seconds": 1.0,
        "index_dir": tmp_path_factory.mktemp("triage-index"),
        "action_timeout_seconds": 5.0,
        "login_attempts": 50,
        "session_hours": 1.0,
        "secure_cookie": False,
        "operators_file": None,
    }
    dashboard: FastAPI = create_dashboard_app(
        hub_settings, DashboardSettings.model_construct(**values)
    )
    page = create_public_report_app(
        hub_settings, PublicReportSettings(secret="triage-test", trust_forwarded_for=True)
    )
    servers = [BackgroundServer(dashboard).start(), BackgroundServer(page).start()]
    try:
        yield servers[0].url, servers[1].url
    finally:
        for server in servers:
            server.stop()


@contextmanager
def operator(dashboard_url: str, config_dir: Path, who: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dashboard_url, timeout=30.0, follow_redirects=False) as http:
        answer = http.post(
            "/connexion",
            data={"operateur": who, "mot_de_passe": passwords(config_dir)[who], "suivant": "/"},
        )
        assert answer.status_code == 303, answer.text
        yield http


def report(page_url: str, seen: str) -> str:
    with httpx.Client(
        base_url=page_url, timeout=30.0, headers={"X-Forwarded-For": f"192.0.2.{len(seen)}"}
    ) as web:
        token = FORM_TOKEN.search(web.get("/").text)
        assert token is not None
        form = {"jeton": token.group(1), "danger": "non", "vu": seen, "departement": "75"}
        sent = web.post("/signaler", data=form)
        found = REFERENCE.search(sent.text)
        assert found is not None, sent.text
        return found.group(1)


def status(page_url: str, reference: str) -> str:
    with httpx.Client(base_url=page_url, timeout=30.0) as web:
        token = FORM_TOKEN.search(web.get("/suivi").text)
        assert token is not None
        answer = web.post("/suivi", data={"jeton": token.group(1), "reference": reference})
        found = re.search(r'data-etat="([A-Z_]+)"', answer.text)
        return found.group(1) if found else answer.text


def case_of(http: httpx.Client, seen: str) -> str:
    def found() -> str | None:
        listing = http.get("/signalements").text
        for case_id in re.findall(r'data-case="([0-9a-f-]{36})"', listing):
            if seen in http.get(f"/signalements/{case_id}").text:
                return case_id
        return None

    case_id = eventually_sync(found, timeout_s=30, what="the report in the queue")
    assert isinstance(case_id, str)
    return case_id


@pytest.mark.parametrize("who", ["coordination.idf", "auditrice.demo", "dpo.demo"])
def test_only_national_coordination_triages(
    urls: tuple[str, str], hub_settings: HubSettings, who: str
) -> None:
    with operator(urls[0], hub_settings.config_dir, who) as http:
        assert http.get("/signalements").status_code == 403
        forged = http.post(
            f"/signalements/{uuid.uuid4()}/decision", data={"csrf": "x", "decision": "clore"}
        )
        assert forged.status_code == 403


def test_a_closed_report_is_done_for_its_reporter_and_cannot_be_decided_twice(
    urls: tuple[str, str], hub_settings: HubSettings
) -> None:
    dashboard_url, page_url = urls
    seen = f"Une femme ne sort jamais de la maison ({uuid.uuid4().hex[:8]})"
    reference = report(page_url, seen)
    assert status(page_url, reference) == "RECEIVED"
    with operator(dashboard_url, hub_settings.config_dir, "operatrice.demo") as http:
        case_id = case_of(http, seen)
        page = http.get(f"/signalements/{case_id}").text
        csrf = CSRF.search(page)
        assert csrf is not None
        no_csrf = http.post(f"/signalements/{case_id}/decision", data={"decision": "clore"})
        assert no_csrf.status_code == 403
        closed = http.post(
            f"/signalements/{case_id}/decision",
            data={"csrf": csrf.group(1), "decision": "clore", "motif": "NOT_ENOUGH_INFORMATION"},
        )
        assert closed.status_code == 303

        eventually_sync(
            lambda: status(page_url, reference) == "DONE",
            timeout_s=30,
            what="the reporter's status after closing",
        )
        shown = http.get(f"/signalements/{case_id}").text
        assert "informations insuffisantes" in shown
        again = http.post(
            f"/signalements/{case_id}/decision",
            data={"csrf": csrf.group(1), "decision": "prendre"},
        )
        assert again.status_code == 409
    with httpx.Client(base_url=page_url) as web:
        token = FORM_TOKEN.search(web.get("/suivi").text)
        assert token is not None
        answer = web.post("/suivi", data={"jeton": token.group(1), "reference": reference})
        assert "insuffisantes" not in answer.text
        assert case_id not in answer.text
