"""The coordination committee's monitoring on the demo's data, end to end on the embedded
broker: the demo's story (``connectors/demo/story.py``) plays against a worker on a fast
clock, then a few busy weeks of reports and decisions from the same agencies; then

- ``hub monitoring report`` (a process, as an operator runs it) writes the HTML report and its
  PNG charts, with the cases it must count;
- national coordination opens ``/suivi`` in headless Chromium and sees the same figures with
  their charts (screenshot in docs/screenshots/suivi.png); a regional coordinator is refused.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, expect
from rich.console import Console
from worker_thread import WorkerThread

from connectors.demo.scene import Scene, envelope, pick
from connectors.demo.story import story
from hub.contracts.enums import (
    AckStatus,
    AgencyRole,
    ConsentMethod,
    DataCategory,
    ExploitationType,
    IdentificationOutcome,
    SupportType,
)
from hub.contracts.events import (
    Acknowledgement,
    ConsentGiven,
    IdentificationDecision,
    PresumedVictimReport,
    SupportRequested,
)
from hub.runtime.clock import clock_from
from hub.runtime.settings import PROJECT_ROOT, HubSettings

pytestmark = pytest.mark.slow  # a real browser on a live page, and a long story: beside the rest

HUB = str(Path(sys.executable).parent / "hub")
SCREENSHOTS = (
    PROJECT_ROOT / "docs" / "screenshots"
    if os.environ.get("NRM_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="nrm-screenshots-"))
)
WAIT_S = 60.0
T = TypeVar("T")
LABOUR, SEXUAL = ExploitationType.LABOUR, ExploitationType.SEXUAL
# (département, form, reporter, the identifying authority the report goes to, how many)
BUSY = (
    ("93", LABOUR, "association-93", "inspection-travail-93", 24),
    ("93", SEXUAL, "association-93", "police-93", 18),
    ("57", LABOUR, "association-57", "inspection-travail-57", 12),
)
CONSENTED_ROLES = (
    AgencyRole.SUPPORT_ASSOCIATION,
    AgencyRole.ACCOMMODATION_PROVIDER,
    AgencyRole.LABOUR_INSPECTORATE,
    AgencyRole.POLICE_GENDARMERIE,
)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """A coroutine run in a thread of its own (Playwright's sync API holds this one's loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=600)


@dataclass(frozen=True)
class Played:
    """What the module published, and the period that covers it."""

    cases: int
    since: date
    until: date


async def wanted(scene: Scene, agency_id: str, kind: type[Any], cases: set[uuid.UUID]) -> dict:
    """The events of ``kind`` for ``cases`` that reach ``agency_id``, by case (bounded)."""
    client = await scene.client(agency_id)
    found: dict[uuid.UUID, Any] = {}
    deadline = time.monotonic() + WAIT_S
    while set(found) != cases and time.monotonic() < deadline:
        for message in await client.receive(expected=len(cases), timeout_s=1.0):
            event = message.event
            if isinstance(event, kind) and event.envelope.case_id in cases:
                found.setdefault(event.envelope.case_id, event)
    return found


async def busy_weeks(scene: Scene, now: Any) -> int:
    """Reports with the person's consent, their decisions, and half the support answered."""
    published = 0
    for departement, form, reporter, authority, count in BUSY:
        reports: dict[uuid.UUID, PresumedVictimReport] = {}
        for _ in range(count):
            case_id = uuid.uuid4()
            consent = pick(case_id, ConsentGiven).model_copy(
                update={
                    "envelope": envelope(case_id, now()),
                    "recipient_roles": CONSENTED_ROLES,
                    "categories": (
                        DataCategory.IDENTITY,
                        DataCategory.CONTACT,
                        DataCategory.HEALTH,
                        DataCategory.EXPLOITATION_DETAILS,
                    ),
                    "method": ConsentMethod.ORAL_WITH_INTERPRETER,
                }
            )
            await (await scene.client(reporter)).publish(consent)
            report = pick(case_id, PresumedVictimReport).model_copy(
                update={
                    "envelope": envelope(case_id, now()),
                    "departement": departement,
                    "exploitation_types": (form,),
                    "immediate_danger": False,
                    "accommodation_needs": None,
                    "support_needed": (SupportType.SOCIAL,),
                }
            )
            await (await scene.client(reporter)).publish(report)
            reports[case_id] = report
        published += count
        arrived = await wanted(scene, authority, PresumedVictimReport, set(reports))
        assert set(arrived) == set(reports), f"{authority} got {len(arrived)}/{len(reports)}"
        decider = await scene.client(authority)
        for n, (case_id, report) in enumerate(reports.items()):
            grounds = IdentificationDecision(
                envelope=envelope(case_id, now()),
                report_event_id=report.envelope.event_id,
                outcome=IdentificationOutcome.REASONABLE_GROUNDS,
                indicator_codes=report.indicator_codes,
            )
            await decider.publish(grounds)
            if n % 3 == 2:
                continue  # a third stay at reasonable grounds
            final = (
                IdentificationOutcome.IDENTIFIED
                if n % 3 == 0
                else IdentificationOutcome.NOT_IDENTIFIED
            )
            await decider.publish(
                grounds.model_copy(update={"envelope": envelope(case_id, now()), "outcome": final})
            )
        asked = await wanted(scene, reporter, SupportRequested, set(reports))
        for n, request in enumerate(asked.values()):
            if n % 2 == 0:  # the other half is left to go overdue
                await (await scene.client(reporter)).publish(
                    Acknowledgement(
                        envelope=envelope(request.envelope.case_id, now()),
                        request_id=request.request_id,
                        status=AckStatus.ACCEPTED,
                    )
                )
    return published


@pytest.fixture(scope="module")
def played(e2e_settings: HubSettings, fast_worker: WorkerThread) -> Played:
    """The demo's story, then the busy weeks, on the fast clock the worker reads."""
    settings = e2e_settings
    now = clock_from(settings.clock_start, settings.clock_anchor, settings.clock_speed)
    start = now()

    async def play() -> int:
        scene = Scene(Console(file=io.StringIO(), width=120), settings, start, datetime.now(UTC))
        try:
            await story(scene)
            return 2 + await busy_weeks(scene, now)  # the demo opens 2 cases the hub accepts
        finally:
            await scene.stop()

    cases = run(play())
    return Played(cases, start.date() - timedelta(days=1), now().date() + timedelta(days=2))


def report_env(settings: HubSettings) -> dict[str, str]:
    assert settings.clock_start
    assert settings.clock_anchor
    return {
        **os.environ,
        "HUB_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "HUB_DATA_DIR": str(settings.data_dir),
        "HUB_CLOCK_START": settings.clock_start.isoformat(),
        "HUB_CLOCK_ANCHOR": settings.clock_anchor.isoformat(),
        "HUB_CLOCK_SPEED": str(settings.clock_speed),
    }


def test_hub_monitoring_report_on_the_demo_data_writes_the_html_with_charts(
    e2e_settings: HubSettings, played: Played, tmp_path: Path
) -> None:
    out = tmp_path / "suivi"
    result = subprocess.run(
        [
            HUB,
            "monitoring",
            "report",
            "--since",
            played.since.isoformat(),
            "--until",
            played.until.isoformat(),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=report_env(e2e_settings),
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    written = json.loads(result.stdout.strip().splitlines()[-1])
    html = unescape(Path(written["report"]).read_text(encoding="utf-8"))
    assert len(written["charts"]) == 8
    for chart in written["charts"]:
        assert Path(chart).read_bytes().startswith(b"\x89PNG"), chart
    assert html.count('src="data:image/png;base64,') == 8
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", html)
    for title in (
        "Signalements par forme d'exploitation",
        "Délais de réponse tenus",
        "Titres de séjour et délais de réflexion",
        "Réponses en retard",
    ):
        assert title in html
    # every case this module opened is counted (other modules share the broker: at least)
    total = re.search(r'id="referrals_by_form".*?<th scope="row">Total</th>(.*?)</tr>', html, re.S)
    assert total is not None
    counts = re.findall(r"<td>([\d\u202f]+|masqué)</td>", total.group(1))
    assert counts[-1] != "masqué"
    assert int(counts[-1].replace("\u202f", "")) >= played.cases
    # reasonable grounds and conclusive decisions were measured over enough cases to publish
    assert re.search(r"Signalement → motifs raisonnables</th><td>\d+</td><td>\d+,\d</td>", html)
    assert re.search(r"Signalement → décision définitive</th><td>\d+</td><td>\d+,\d</td>", html)
    assert "Part des dossiers ouverts dans la période qui sont identifiés :" in html


def login(page: Page, base: str, operator: str) -> None:
    password = next(
        line.split()[1]
        for line in (PROJECT_ROOT / "deploy/config/dev-keys/operators.txt").read_text().splitlines()
        if line.startswith(f"{operator} ")
    )
    page.goto(f"{base}/connexion")
    page.get_by_label("Identifiant").fill(operator)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()


def test_national_coordination_and_auditors_see_the_monitoring_page_a_regional_coordinator_not(
    played: Played, dashboard_url: str, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    page = context.new_page()
    try:
        login(page, dashboard_url, "operatrice.demo")
        page.get_by_role("link", name="Suivi").click()
        query = f"?depuis={played.since.isoformat()}&jusqu_au={played.until.isoformat()}"
        page.goto(f"{dashboard_url}/suivi{query}")
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Suivi du mécanisme national d'orientation"
        )
        charts = page.locator("img.graphique")
        expect(charts).to_have_count(8, timeout=60_000)
        for n in range(8):  # each chart decoded by the browser, not a broken image
            assert charts.nth(n).evaluate("img => img.complete && img.naturalWidth > 300")
        expect(page.locator("#referrals_by_form table")).to_contain_text("Total")
        expect(page.locator("p.part-identifies")).to_contain_text("identifiés")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "suivi.png"), full_page=False)
        page.locator("#delays").screenshot(path=str(SCREENSHOTS / "suivi-delais.png"))
        page.goto(f"{dashboard_url}/suivi?depuis=2026-12-01&jusqu_au=2026-11-01")
        expect(page.locator("main")).to_contain_text("le début de la période doit précéder")
    finally:
        context.close()
    auditor = browser.new_context(locale="fr-FR")
    page = auditor.new_page()
    try:
        login(page, dashboard_url, "auditrice.demo")
        page.get_by_role("link", name="Suivi").click()
        expect(page.locator("img.graphique")).to_have_count(8, timeout=60_000)
    finally:
        auditor.close()
    regional = browser.new_context(locale="fr-FR")
    page = regional.new_page()
    try:
        login(page, dashboard_url, "coordination.idf")
        expect(page.get_by_role("link", name="Suivi")).to_have_count(0)
        response = page.goto(f"{dashboard_url}/suivi")
        assert response is not None
        assert response.status == 403
    finally:
        regional.close()
