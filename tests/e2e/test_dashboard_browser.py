"""An operator's session in headless Chromium against the whole hub on the embedded broker.

Scripted scenario, on a fast simulated clock shared by the worker and the dashboard:

1. police-93 asks prefecture-93 for a residence permit; nobody answers, the deadline passes,
   the ladder climbs. The overdue list shows it (live, without a reload) with its ladder step.
2. The case page replays the case's audit trail and says the chain verifies. Another request
   is answered by the prefecture: the directory page measures its answer time.
3. An association not yet in the directory publishes a permit request: a dead letter (nobody
   owns its outbox). National coordination adds it to the directory; the operator presses
   "Relancer": the dead letter disappears from the list, and the re-driven request is routed
   (it shows up in the overdue list in turn).

Screenshots go to docs/screenshots/ (docs/DASHBOARD.md shows them).
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from directory_records import publish_entry
from eventually import eventually_sync
from flow_helpers import chosen_request_id, permit_chosen, prefecture_consent
from playwright.sync_api import Browser, Page, expect
from pydantic import BaseModel
from worker_thread import WorkerThread

from hub.contracts.codec import Codec
from hub.contracts.enums import AckStatus, AgencyRole
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    Acknowledgement,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import agency_topics, outbox_topic
from hub.rules.directory import Agency, Directory, SigningKey, entry_from_agency
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import PROJECT_ROOT, HubSettings
from hub.runtime.topic_admin import create_topics
from hub.trust.agency_keys import dev_key_path, load_private_key
from hub.trust.signing import RecordSigner, public_key_b64

# A real browser waits on a live page: timing-sensitive, so it runs alone (make test).
pytestmark = pytest.mark.serial

# docs/screenshots/ is refreshed only when asked (NRM_UPDATE_SCREENSHOTS=1), so `make test`
# leaves the tree clean; otherwise the shots go to a temporary folder (still taken: a page
# that cannot render fails the test).
SCREENSHOTS = (
    PROJECT_ROOT / "docs" / "screenshots"
    if os.environ.get("NRM_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="nrm-screenshots-"))
)
NEWCOMER = "association-13"  # a région no other test routes to
WAIT_MS = 45_000
T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion in a thread of its own: Playwright's sync API keeps an
    event loop marked as running in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=60)


def demo_password(config_dir: Path, operator: str) -> str:
    for line in (config_dir / "dev-keys" / "operators.txt").read_text().splitlines():
        if line.startswith(f"{operator} "):
            return line.split()[1]
    raise AssertionError(f"no demo password for {operator}")


async def publish(
    settings: HubSettings, topic: str, value: bytes, key: bytes, signer: RecordSigner
) -> None:
    producer = AIOKafkaProducer(acks="all", **client_options(settings))
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=signer.sign(topic, key, value))
    finally:
        await producer.stop()


async def add_to_directory(settings: HubSettings, agency: Agency, codec: Codec) -> None:
    producer = AIOKafkaProducer(acks="all", **client_options(settings))
    await producer.start()
    try:
        entry = entry_from_agency(agency, datetime.now(UTC))
        await publish_entry(producer, codec, settings, entry)
    finally:
        await producer.stop()


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_an_operator_sees_the_late_request_replays_the_case_and_redrives_a_dead_letter(
    e2e_settings: HubSettings, fast_worker: WorkerThread, dashboard_url: str, browser: Browser
) -> None:
    settings = e2e_settings
    codec = Codec(SchemaRegistry.load(settings.schemas_dir))
    directory = Directory.load(settings.config_dir)
    police = directory.get("police-93")
    assert police is not None
    police_signer = RecordSigner.for_agency(
        police, load_private_key(dev_key_path(settings.config_dir, "police-93"))
    )

    def by_police(*events: BaseModel) -> None:
        for event in events:
            case_id = event.envelope.case_id  # type: ignore[attr-defined]
            run(
                publish(
                    settings,
                    outbox_topic("police-93"),
                    codec.encode_event(event),
                    str(case_id).encode(),
                    police_signer,
                )
            )

    def permit_request(case_id: uuid.UUID) -> uuid.UUID:
        """The person's consent for the prefecture and her recorded choice, which raises the
        permit request (no request goes out without both): its request id."""
        information, choice = permit_chosen(case_id)
        by_police(prefecture_consent(case_id), information, choice)
        return chosen_request_id(choice)

    # 1. A permit request nobody answers.
    late_case = uuid.uuid4()
    permit_request(late_case)

    # 2a. A permit request the prefecture will answer.
    answered_case = uuid.uuid4()
    answered = permit_request(answered_case)

    # 3a. The person's choice of a permit, recorded by an association the directory does not
    # know yet (after the police's information and her consent): dead-lettered.
    run(create_topics(settings, agency_topics([NEWCOMER])))
    newcomer_key = Ed25519PrivateKey.generate()
    newcomer_signer = RecordSigner(newcomer_key, f"{NEWCOMER}-2026-1")
    stray_case = uuid.uuid4()
    information, stray = permit_chosen(stray_case)
    by_police(prefecture_consent(stray_case), information)
    run(
        publish(
            settings,
            outbox_topic(NEWCOMER),
            codec.encode_event(stray),
            str(stray_case).encode(),
            newcomer_signer,
        )
    )

    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)  # live updates and the fast clock take seconds
    try:
        # Login.
        page.goto(f"{dashboard_url}/")
        expect(page).to_have_url(re.compile(r"/connexion"))
        page.get_by_label("Identifiant").fill("operatrice.demo")
        page.get_by_label("Mot de passe").fill(
            demo_password(settings.config_dir, "operatrice.demo")
        )
        shoot(page, "connexion.png")
        page.get_by_role("button", name="Se connecter").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Aperçu des dossiers en attente")

        # The late request appears in the overdue list by itself (live update, no reload).
        late_row = page.locator(f'#retards tr[data-case="{late_case}"]')
        expect(late_row).to_be_visible()
        expect(late_row).to_contain_text("En retard de")
        expect(late_row).to_contain_text("Demande de titre de séjour")
        expect(late_row).to_contain_text("Coordination nationale (besoin orphelin)")
        stray_letter = page.locator(f'#lettres-mortes tr:has(a[href="/dossiers/{stray_case}"])')
        expect(stray_letter).to_be_visible()
        expect(stray_letter).to_contain_text("Expéditeur usurpé")
        shoot(page, "apercu.png")

        # 2b. The prefecture answers the other request (routed long before: the late one was).
        prefecture = directory.get("prefecture-93")
        assert prefecture is not None
        accepted = Acknowledgement(
            envelope=Envelope(
                event_id=uuid.uuid4(), case_id=answered_case, occurred_at=datetime.now(UTC)
            ),
            request_id=answered,
            status=AckStatus.ACCEPTED,
        )
        run(
            publish(
                settings,
                outbox_topic("prefecture-93"),
                codec.encode_event(accepted),
                str(answered_case).encode(),
                RecordSigner.for_agency(
                    prefecture,
                    load_private_key(dev_key_path(settings.config_dir, "prefecture-93")),
                ),
            )
        )

        # 2. The case page: the replayed timeline and the chain's verification.
        late_row.get_by_role("link").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Dossier {str(late_case)[:8]}")
        expect(page.locator("#verification")).to_have_attribute("data-verified", "true")
        timeline = page.locator("#chronologie tbody tr")
        expect(timeline.first).to_be_visible()
        actions = timeline.evaluate_all("rows => rows.map(r => r.dataset.action)")
        assert actions[0] == "RECEIVED"
        assert {"ROUTED", "ESCALATED"} <= set(actions)
        shoot(page, "dossier.png")

        # 3b. The fix (the association joins the directory), then the re-drive.
        newcomer = Agency(
            id=NEWCOMER,
            name="Association des Bouches-du-Rhône",
            role=AgencyRole.SUPPORT_ASSOCIATION,
            departements=("13",),
            signing_keys=(
                SigningKey(key_id=newcomer_signer.key_id, public_key=public_key_b64(newcomer_key)),
            ),
        )
        run(add_to_directory(settings, newcomer, codec))
        router = fast_worker.router
        assert router is not None
        eventually_sync(
            lambda: router.directory.current.get(NEWCOMER) is not None,
            timeout_s=10,
            what="the directory follower applying the newcomer",
        )
        page.get_by_role("link", name="Aperçu", exact=True).click()
        letter_id = stray_letter.get_attribute("data-dead-letter")
        assert letter_id
        stray_letter.get_by_role("button", name=re.compile("^Relancer")).click()
        expect(page.locator(f'tr[data-dead-letter="{letter_id}"]')).to_have_count(0)
        expect(page.locator("#annonce")).to_contain_text("relancée")
        # The re-driven choice raises the permit request: its deadline passes in turn.
        expect(page.locator(f'#retards tr[data-case="{stray_case}"]')).to_be_visible()
        page.reload()
        expect(page.locator(f'tr[data-dead-letter="{letter_id}"]')).to_have_count(0)
        shoot(page, "apres-relance.png")

        page.get_by_role("link", name="Organismes").click()
        agency_row = page.locator('tr[data-agency="prefecture-93"]')
        expect(agency_row).to_have_attribute("data-answered", "1")  # live, measured from audit
        expect(agency_row).not_to_have_attribute("data-overdue", "0")
        expect(page.locator(f'tr[data-agency="{NEWCOMER}"]')).to_be_visible()
        shoot(page, "organismes.png")
    finally:
        context.close()
