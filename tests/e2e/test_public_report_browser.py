"""A witness reports through the public page in Chromium; the triage body forwards it from
the dashboard; the report reaches the competent authorities on the real embedded broker.

And what an attacker or a privacy officer would check: the reference shows a status and takes
additions; a flood from one client is throttled (429, French and English); a filled honeypot
and a post without the form token are refused; and nothing identifying the reporter's machine
(its address, its browser) is stored: not in the page's logs, not on any topic, not in any
file the hub wrote.

The page runs as its own process (``python -m connectors.public_report.app``), as deployed,
behind a "proxy" that sets X-Forwarded-For (``HUB_PUBLIC_REPORT_TRUST_FORWARDED_FOR``): each
browser context plays one client with its own made-up address and user agent.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from worker_thread import WorkerThread

from agents.io.reader import read_topics, topics_with_prefix
from hub.contracts.codec import Codec
from hub.contracts.events import PresumedVictimReport
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import inbox_topic
from hub.runtime.broker import free_port
from hub.runtime.settings import PROJECT_ROOT, HubSettings

pytestmark = pytest.mark.serial

WAIT_MS = 45_000
WITNESS_ADDRESS = "203.0.113.77"
WITNESS_AGENT = f"TemoinE2E/9.9 (witness-{uuid.uuid4().hex[:12]})"
FLOOD_ADDRESS = "203.0.113.88"
FLOOD_AGENT = f"FloodE2E/1.0 (flood-{uuid.uuid4().hex[:12]})"
T = TypeVar("T")
# Refreshed in docs/screenshots/ only when asked (NRM_UPDATE_SCREENSHOTS=1), as the dashboard's.
SCREENSHOTS = (
    PROJECT_ROOT / "docs" / "screenshots"
    if os.environ.get("NRM_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="nrm-screenshots-"))
)


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine in a thread of its own (Playwright's sync API holds this loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=60)


def demo_password(config_dir: Path, operator: str) -> str:
    for line in (config_dir / "dev-keys" / "operators.txt").read_text().splitlines():
        if line.startswith(f"{operator} "):
            return line.split()[1]
    raise AssertionError(f"no demo password for {operator}")


@pytest.fixture(scope="module")
def page_process(
    e2e_settings: HubSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """The public page as its own process, its log (DEBUG: the most it ever writes) to a file."""
    port = free_port("127.0.0.1")
    log_file = tmp_path_factory.mktemp("public-page") / "page.log"
    env = {
        **os.environ,
        "HUB_BOOTSTRAP_SERVERS": e2e_settings.bootstrap_servers,
        "HUB_LOG_LEVEL": "DEBUG",
        "HUB_PUBLIC_REPORT_SECRET": "e2e-secret-not-for-production",
        "HUB_PUBLIC_REPORT_TRUST_FORWARDED_FOR": "true",
        "HUB_PUBLIC_REPORT_BURST": "3",
    }
    with log_file.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "connectors.public_report.app", "--port", str(port)],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert process.poll() is None, log_file.read_text()
                assert time.monotonic() < deadline, "the public page did not start"
                time.sleep(0.1)
            yield url, log_file
        finally:
            process.terminate()
            process.wait(timeout=10)


def client(browser: Browser, address: str, agent: str) -> BrowserContext:
    return browser.new_context(
        user_agent=agent, extra_http_headers={"X-Forwarded-For": address}, locale="fr-FR"
    )


def find_in_queue(operator: Page, dashboard_url: str, seen: str) -> str:
    """The witness case whose report says ``seen``, once the triage queue shows it."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        operator.goto(f"{dashboard_url}/signalements")
        rows = operator.locator("#signalements-ouverts tr[data-case]").all()
        cases = [c for c in (r.get_attribute("data-case") for r in rows) if c]
        for case_id in reversed(cases):
            operator.goto(f"{dashboard_url}/signalements/{case_id}")
            if operator.locator("#vu").inner_text().strip() == seen:
                return case_id
        time.sleep(0.5)
    raise AssertionError("the report never reached the triage queue")


def reported_to_authorities(settings: HubSettings, witness_case: str) -> list[tuple[str, Any]]:
    codec = Codec(SchemaRegistry.load(settings.schemas_dir))
    topics = [inbox_topic("police-93"), inbox_topic("inspection-travail-93")]
    found = []
    for record in run(read_topics(settings, topics)):
        event = codec.decode_event(record.value or b"")
        if (
            isinstance(event, PresumedVictimReport)
            and str(event.envelope.correlation_id) == witness_case
        ):
            found.append((record.topic, event))
    return found


def test_a_witness_report_is_triaged_forwarded_and_leaves_no_trace_of_the_machine(
    e2e_settings: HubSettings,
    fast_worker: WorkerThread,
    dashboard_url: str,
    browser: Browser,
    page_process: tuple[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    page_url, log_file = page_process
    expect.set_options(timeout=WAIT_MS)
    seen = f"Des ouvriers dorment dans l'atelier fermé à clé ({uuid.uuid4().hex[:8]})."

    # 1. The witness reports, in French; the danger question says "call 17 / 112" at once.
    witness = client(browser, WITNESS_ADDRESS, WITNESS_AGENT)
    page = witness.new_page()
    page.goto(page_url)
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("#danger-banner")).to_contain_text("17")
    expect(page.locator("#danger-now")).to_be_hidden()
    page.locator("#danger-oui").check()
    expect(page.locator("#danger-now")).to_be_visible()
    expect(page.locator("#danger-now")).to_contain_text("112")
    shoot(page, "signalement-danger.png")
    page.locator("#danger-non").check()
    expect(page.locator("#danger-now")).to_be_hidden()
    page.get_by_label("Qu'avez-vous vu ou entendu ?").fill(seen)
    page.get_by_label("Dans quel département ?").select_option("93")
    page.get_by_label("Où plus précisément").fill("Bobigny, zone artisanale")
    page.get_by_label("Travail forcé").check()
    page.get_by_label("Téléphone ou e-mail").fill("temoin@example.org")
    page.get_by_role("button", name="Envoyer le signalement").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Signalement envoyé")
    reference = page.locator("#reference").inner_text().strip()
    shoot(page, "signalement-envoye.png")
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){5}", reference)

    # The page in English.
    page.goto(page_url)
    page.locator("#langue").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#danger-banner")).to_contain_text("Immediate danger")

    # 2. The triage body's operator finds it in the queue and forwards it.
    desk = browser.new_context()
    operator = desk.new_page()
    operator.goto(f"{dashboard_url}/connexion")
    operator.get_by_label("Identifiant").fill("operatrice.demo")
    operator.get_by_label("Mot de passe").fill(
        demo_password(e2e_settings.config_dir, "operatrice.demo")
    )
    operator.get_by_role("button", name="Se connecter").click()
    operator.get_by_role("link", name="Signalements").click()
    witness_case = find_in_queue(operator, dashboard_url, seen)
    expect(operator.locator("#vu")).to_have_text(seen)
    shoot(operator, "signalement-tri.png")
    operator.get_by_role("button", name="Prendre en charge").click()
    expect(operator.locator("#etat")).to_have_text("pris en charge")
    operator.get_by_role("button", name="Transmettre").click()
    expect(operator.locator("#transmis")).to_be_visible()

    # 3. The competent authorities receive it (labour: the inspectorate and the police).
    deadline = time.monotonic() + 30
    while len(found := reported_to_authorities(e2e_settings, witness_case)) < 2:
        assert time.monotonic() < deadline, f"routed to {[t for t, _ in found]} only"
        time.sleep(0.5)
    assert {topic for topic, _ in found} == {
        inbox_topic("police-93"),
        inbox_topic("inspection-travail-93"),
    }
    forwarded = found[0][1]
    assert forwarded.envelope.sender == "cellule-signalements"
    assert forwarded.exploitation is not None
    assert seen in (forwarded.exploitation.narrative or "")
    assert "temoin@example.org" not in (forwarded.exploitation.narrative or "")

    # 4. The reference works: a status with no one's data, and an addition reaches the queue.
    page.goto(f"{page_url}/suivi")
    page.get_by_label("Votre référence").fill(reference.lower())
    page.get_by_role("button", name="Voir le suivi").click()
    expect(page.locator("#etat")).to_have_attribute("data-etat", "DONE")
    assert witness_case not in page.content()
    page.get_by_label("Informations à ajouter").fill("Il y a aussi un adolescent.")
    page.get_by_role("button", name="Ajouter ces informations").click()
    expect(page.locator("#ajoute")).to_be_visible()
    operator.goto(f"{dashboard_url}/signalements/{witness_case}")
    expect(operator.locator(".complement")).to_contain_text("adolescent")

    # 5. A flood from one client is throttled, in French and English; others still report.
    flooder = client(browser, FLOOD_ADDRESS, FLOOD_AGENT)
    statuses = []
    for _ in range(5):
        answer = flooder.request.get(page_url)
        token = re.search(r'name="jeton" value="([^"]+)"', answer.text())
        assert token is not None
        sent = flooder.request.post(
            f"{page_url}/signaler",
            form={"jeton": token.group(1), "danger": "non", "vu": "flood", "departement": "93"},
        )
        statuses.append(sent.status)
    assert statuses == [200, 200, 200, 429, 429]
    assert "Trop d'envois" in sent.text()
    assert "Too many submissions" in sent.text()

    # 6. A filled honeypot and a post without the form token are refused.
    bot = client(browser, "203.0.113.99", "BotE2E/0.1")
    bot_page = bot.new_page()
    bot_page.goto(page_url)
    bot_page.get_by_label("Qu'avez-vous vu ou entendu ?").fill("spam")
    bot_page.locator("#danger-non").check()
    bot_page.get_by_label("Dans quel département ?").select_option("75")
    bot_page.locator("#site_web").fill("http://spam.example", force=True)
    bot_page.get_by_role("button", name="Envoyer le signalement").click()
    expect(bot_page.locator("body")).to_contain_text("Signalement refusé")
    no_token = bot.request.post(
        f"{page_url}/signaler", form={"danger": "non", "vu": "x", "departement": "75"}
    )
    assert no_token.status == 403

    # 7. Nothing identifying the reporter's machine is stored anywhere.
    witness.close()
    flooder.close()
    bot.close()
    desk.close()
    markers = [WITNESS_ADDRESS, WITNESS_AGENT, FLOOD_ADDRESS, FLOOD_AGENT, "BotE2E"]
    logged = log_file.read_text(errors="replace")
    assert "public_report.published" in logged  # the log is the page's, and it wrote
    assert [m for m in markers if m in logged] == []
    topics = run(topics_with_prefix(e2e_settings, "")).keys()
    records = run(read_topics(e2e_settings, list(topics)))
    assert records, "no topic read"
    on_topics = [
        (r.topic, m)
        for r in records
        for m in markers
        if m.encode() in (r.value or b"")
        or m.encode() in (r.key or b"")
        or any(m.encode() in v for _, v in r.headers)
    ]
    assert on_topics == []
    written = [
        p
        for folder in (e2e_settings.data_dir, tmp_path_factory.getbasetemp())
        for p in Path(folder).rglob("*")
        if p.is_file() and p != log_file
    ]
    in_files = [(p, m) for p in written for m in markers if m.encode() in p.read_bytes()]
    assert in_files == []

    # 8. What the witness wrote, and their contact, are sealed where the hub keeps them: the
    # audit log, the case changelog, dead letters (the inboxes and outboxes are transport).
    kept = ("nrm.audit", "nrm.state.cases", "nrm.deadletters", "nrm.redrive")
    in_clear = [
        (r.topic, m)
        for r in records
        if r.topic in kept
        for m in (seen, "temoin@example.org", "adolescent")
        if m.encode() in (r.value or b"")
    ]
    assert [r for r in records if r.topic == "nrm.audit"], "nothing audited"
    transport = [r for r in records if r.topic == inbox_topic("cellule-signalements")]
    assert any(seen.encode() in (r.value or b"") for r in transport)  # the search finds it
    assert in_clear == []
