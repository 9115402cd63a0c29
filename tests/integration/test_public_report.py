"""The public reporting page on the real embedded broker, through a routing worker.

What a witness, and an attacker, would try: a report reaches the triage body and gives a
reference that shows a minimal status and takes additions; a forged form (no token, a token
from elsewhere), a filled honeypot, an oversize body and a flood are refused and publish
nothing. (The browser, the logs and the files: tests/e2e/test_public_report_browser.py.)
"""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from eventually import eventually
from flow_helpers import received_for
from worker_thread import AgencyFactory, WorkerThread

from agents.io.reader import read_topics
from connectors.public_report.app import create_public_report_app
from connectors.public_report.config import PublicReportSettings
from connectors.serving import BackgroundServer
from hub.contracts.enums import AckStatus, ExploitationType, Urgency
from hub.contracts.topics import outbox_topic
from hub.contracts.witness import WitnessReport, WitnessReportAddendum
from hub.runtime.settings import HubSettings

TOKEN = re.compile(r'name="jeton" value="([^"]+)"')
REFERENCE = re.compile(r'<output id="reference">([A-Z2-7-]+)</output>')
SECRET = "integration-secret-not-for-production"


@pytest.fixture(scope="module")
def page_url(hub_settings: HubSettings, worker: WorkerThread) -> Iterator[str]:
    config = PublicReportSettings(secret=SECRET, trust_forwarded_for=True, burst=3)
    server = BackgroundServer(create_public_report_app(hub_settings, config)).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def web(page_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client from its own (made-up) address, so floods do not mix."""
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    async with httpx.AsyncClient(
        base_url=page_url, timeout=30.0, headers={"X-Forwarded-For": address}
    ) as client:
        yield client


async def token(web: httpx.AsyncClient, path: str = "/") -> str:
    page = await web.get(path)
    assert page.status_code == 200
    found = TOKEN.search(page.text)
    assert found is not None
    return found.group(1)


def report_form(form_token: str, seen: str, **extra: str) -> dict[str, str]:
    return {
        "jeton": form_token,
        "danger": "non",
        "vu": seen,
        "departement": "93",
        "forme_LABOUR": "oui",
        "contact": "temoin@example.org",
        **extra,
    }


async def test_a_report_reaches_the_triage_body_and_its_reference_works(
    web: httpx.AsyncClient, agency: AgencyFactory
) -> None:
    triage = await agency("cellule-signalements")
    seen = f"Ouvriers logés dans l'atelier {uuid.uuid4()}"
    sent = await web.post("/signaler", data=report_form(await token(web), seen))
    assert sent.status_code == 200, sent.text
    found = REFERENCE.search(sent.text)
    assert found is not None
    reference = found.group(1)

    delivered = await eventually(
        lambda: _report_seen(triage, seen), timeout_s=20, what="the report at the triage body"
    )
    report = delivered.event
    assert isinstance(report, WitnessReport)
    assert report.departement == "93"
    assert report.exploitation_types == (ExploitationType.LABOUR,)
    assert report.urgency is Urgency.UNKNOWN
    assert report.reporter_contact == "temoin@example.org"
    case_id = report.envelope.case_id

    status = await web.post(
        "/suivi", data={"jeton": await token(web, "/suivi"), "reference": reference}
    )
    assert 'data-etat="RECEIVED"' in status.text

    request_id = report.envelope.causation_id
    assert request_id is not None
    await triage.acknowledge(case_id, request_id, AckStatus.ACCEPTED)

    async def in_review() -> bool:
        lookup = await web.post(
            "/suivi", data={"jeton": await token(web, "/suivi"), "reference": reference.lower()}
        )
        return 'data-etat="IN_REVIEW"' in lookup.text

    await eventually(in_review, timeout_s=20, what="the status after the triage took it up")

    added = await web.post(
        "/suivi/ajouter",
        data={
            "jeton": await token(web, "/suivi"),
            "reference": reference,
            "complement": "Un enfant aussi.",
        },
    )
    assert added.status_code == 200
    assert 'id="ajoute"' in added.text
    more = await received_for(triage, case_id, timeout_s=20)
    assert [type(m.event) for m in more] == [WitnessReportAddendum]
    assert more[0].event.what_was_seen == "Un enfant aussi."  # type: ignore[attr-defined]


async def _report_seen(triage: object, seen: str) -> object:
    for message in await triage.receive(expected=1, timeout_s=1.0):  # type: ignore[attr-defined]
        if isinstance(message.event, WitnessReport) and message.event.what_was_seen == seen:
            return message
    return None


async def test_an_unknown_or_malformed_reference_shows_nothing(web: httpx.AsyncClient) -> None:
    for reference in ("ABCD-EFGH-IJKL-MNOP-QRST-UVWX", "' OR 1=1 --", ""):
        answer = await web.post(
            "/suivi", data={"jeton": await token(web, "/suivi"), "reference": reference}
        )
        assert answer.status_code == 404
        assert "Référence inconnue" in answer.text
        assert "data-etat" not in answer.text


@pytest.mark.parametrize(
    ("case", "status"),
    [("no token", 403), ("token of no cookie", 403), ("forged token", 403), ("honeypot", 400)],
)
async def test_forged_forms_are_refused_and_publish_nothing(
    web: httpx.AsyncClient, page_url: str, hub_settings: HubSettings, case: str, status: int
) -> None:
    seen = f"{case} {uuid.uuid4()}"
    form = report_form(await token(web), seen)
    if case == "no token":
        del form["jeton"]
    if case == "forged token":
        form["jeton"] = "1765000000.abc.def"
        web.cookies.set("nrm_formulaire", form["jeton"])
    if case == "honeypot":
        form["site_web"] = "http://spam.example"
    if case == "token of no cookie":
        async with httpx.AsyncClient(base_url=page_url) as other:  # a cross-site post
            answer = await other.post("/signaler", data=form)
    else:
        answer = await web.post("/signaler", data=form)
    assert answer.status_code == status
    assert "Signalement refusé" in answer.text
    # The page publishes before it answers: what it refused is not on its outbox.
    published = await read_topics(hub_settings, [outbox_topic("signalement-public")])
    assert [r for r in published if seen.encode() in (r.value or b"")] == []


async def test_a_flood_from_one_client_is_throttled_and_others_still_report(
    web: httpx.AsyncClient, page_url: str
) -> None:
    answers = [
        (await web.post("/signaler", data=report_form(await token(web), "flood"))).status_code
        for _ in range(6)
    ]
    assert answers[:3] == [200, 200, 200]
    assert answers[3:] == [429, 429, 429]
    last = await web.post("/signaler", data=report_form(await token(web), "flood"))
    assert last.status_code == 429
    assert "Trop d'envois" in last.text
    assert "Too many submissions" in last.text
    assert int(last.headers["retry-after"]) >= 1
    async with httpx.AsyncClient(
        base_url=page_url, headers={"X-Forwarded-For": "203.0.113.9"}
    ) as other:
        assert (
            await other.post("/signaler", data=report_form(await token(other), "x"))
        ).status_code == 200


async def test_an_oversize_body_is_refused_before_it_is_read(web: httpx.AsyncClient) -> None:
    form = report_form(await token(web), "x" * 40_000)
    answer = await web.post("/signaler", data=form)
    assert answer.status_code == 413


async def test_the_page_is_bilingual_and_strictly_confined(web: httpx.AsyncClient) -> None:
    french, english = await web.get("/"), await web.get("/?lang=en")
    assert '<html lang="fr">' in french.text
    assert "17" in french.text
    assert "112" in french.text
    assert '<html lang="en">' in english.text
    assert "Immediate danger" in english.text
    csp = french.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "http" not in re.sub(r"https?://[^\"]*example", "", french.text.split("<body>")[0])
    cookie = french.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


async def test_with_the_broker_down_the_page_still_says_call_17_and_a_report_gets_503(
    hub_settings: HubSettings,
) -> None:
    """A witness in front of the page while the broker is away: the page and its emergency line
    are served, and a report is told, in one line, to try again (never a server that refused
    to start, nor a report said received that was not)."""
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = hub_settings.model_copy(update={"bootstrap_servers": f"127.0.0.1:{port}"})
    config = PublicReportSettings(secret=SECRET, trust_forwarded_for=True, burst=3)
    server = BackgroundServer(create_public_report_app(down, config)).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30.0) as client:
            page = await client.get("/")
            assert page.status_code == 200
            assert "17" in page.text
            assert "112" in page.text
            form_token = TOKEN.search(page.text)
            assert form_token is not None
            answer = await client.post(
                "/signaler",
                data=report_form(form_token.group(1), "Des personnes enfermées la nuit."),
            )
    finally:
        server.stop()
    assert answer.status_code == 503
    assert "indisponible" in answer.text
    assert "17" in answer.text
