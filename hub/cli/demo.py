"""`make demo`: the hub's main job on the embedded broker, as a narrated French scenario.

It starts the embedded broker, creates every topic, starts a hub worker process on a fast
simulated clock (days pass in seconds, so deadlines and escalations happen during the demo),
then plays simulated agencies in Seine-Saint-Denis through the signed agency client:

1. the labour inspectorate formally identifies a victim of labour exploitation;
2. the support association records her consent for support and accommodation only;
3. support and accommodation are requested; the local provider declines (no capacity) and
   the request is re-routed to the next provider, which accepts;
4. the permit request reaches the prefecture (identity and status only), goes unanswered,
   is reminded, then escalated to the regional and national coordination;
5. a minor's referral reaches child protection and the juvenile prosecutor without consent;
6. the consent is withdrawn: earlier recipients are told, nothing more is shared;
7. a spoofed message is dead-lettered.

Then it replays one case's audit trail, verifies its chain, prints the overdue table, stops
everything it started and exits 0. ``--serve`` keeps the broker (and the services) up.
Agents and connectors are imported inside the functions: hub/ does not depend on them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from hub.contracts.enums import (
    AckStatus,
    AgencyRole,
    DataCategory,
    DeclineReason,
    ExploitationType,
    Urgency,
)
from hub.contracts.events import (
    AccommodationRequested,
    Acknowledgement,
    ConsentGiven,
    ConsentWithdrawn,
    Envelope,
    Escalation,
    PermitRequested,
    ReferralOpened,
    SupportRequested,
)
from hub.contracts.examples import example_events
from hub.contracts.topics import all_topics
from hub.rules.directory import Directory
from hub.runtime.broker import EmbeddedBroker, free_port
from hub.runtime.settings import HubSettings, get_settings
from hub.runtime.topic_admin import create_topics

SPEED = 50_000.0
"""Simulated seconds per second: the prefecture's five working days pass in about 12 s."""
STEP_TIMEOUT_S = 40.0
HUB = str(Path(sys.executable).parent / "hub")

FRENCH_CATEGORY = {
    DataCategory.IDENTITY: "identité",
    DataCategory.CONTACT: "coordonnées",
    DataCategory.HEALTH: "santé",
    DataCategory.IMMIGRATION_STATUS: "situation administrative",
    DataCategory.EXPLOITATION_DETAILS: "faits d'exploitation",
    DataCategory.MINOR: "minorité",
}


class Scene:
    """The demo's agencies, its clock and its narration."""

    def __init__(
        self, console: Console, settings: HubSettings, clock_start: datetime, anchor: datetime
    ) -> None:
        self.console = console
        self.settings = settings
        self.clock_start = clock_start
        self.anchor = anchor
        self.directory = Directory.load(settings.config_dir)
        self.clients: dict[str, Any] = {}

    def now(self) -> datetime:
        """The simulated time the worker also reads."""
        return self.clock_start + (datetime.now(UTC) - self.anchor) * SPEED

    async def client(self, agency_id: str) -> Any:
        """The started client of a simulated agency."""
        from connectors.client.dev import dev_client

        if agency_id not in self.clients:
            client = dev_client(self.settings, agency_id, directory=self.directory)
            await client.start()
            self.clients[agency_id] = client
        return self.clients[agency_id]

    async def stop(self) -> None:
        for client in self.clients.values():
            await client.stop()

    def say(self, text: str) -> None:
        stamp = self.now().astimezone().strftime("%d/%m %Hh%M")
        self.console.print(f"[dim]{stamp}[/]  {text}", highlight=False)

    def name(self, agency_id: str) -> str:
        agency = self.directory.get(agency_id)
        return agency.name if agency else agency_id

    async def publish(self, agency_id: str, event: BaseModel, what: str) -> None:
        await (await self.client(agency_id)).publish(event)
        self.say(f"[bold cyan]→[/] [bold]{agency_id}[/] {what}")

    async def expect(
        self,
        agency_id: str,
        case_id: uuid.UUID,
        kind: type[BaseModel],
        *,
        wait_s: float = STEP_TIMEOUT_S,
        describe: bool = True,
    ) -> Any:
        """Wait until ``agency_id`` receives an event of ``kind`` for the case; narrate it."""
        client = await self.client(agency_id)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            for message in await client.receive(expected=1, timeout_s=1.0):
                event = message.event
                if event.envelope.case_id == case_id and isinstance(event, kind):
                    if describe:
                        self.say(
                            f"[bold green]←[/] [bold]{agency_id}[/] reçoit "
                            f"{kind.__name__}{_seen(event, message.headers)}"
                        )
                    return event
        raise TimeoutError(f"{agency_id} did not receive {kind.__name__} for {case_id}")


def _seen(event: BaseModel, headers: dict[str, bytes]) -> str:
    """Which personal data categories a delivered event carries, in French."""
    from hub.contracts.events import subject_of
    from hub.contracts.registry import SchemaRegistry
    from hub.rules.projection import Projector, categories_present

    projector = Projector(SchemaRegistry.load(get_settings().schemas_dir))
    present = categories_present(event.model_dump(), projector.tree(subject_of(type(event))))
    if not present:
        text = " (aucune donnée personnelle)"
    else:
        text = " (" + ", ".join(FRENCH_CATEGORY[c] for c in sorted(present)) + ")"
    if "nrm-safe-channel" in headers:
        text += f" — canal sûr : {headers['nrm-safe-channel'].decode()}"
    return text


E = TypeVar("E", bound=BaseModel)


def _pick(case_id: uuid.UUID, kind: type[E]) -> E:
    """The example event of ``kind`` for a case."""
    for _sender, event in example_events(case_id):
        if isinstance(event, kind):
            return event
    raise LookupError(kind.__name__)


def _envelope(case_id: uuid.UUID, at: datetime) -> Envelope:
    return Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=at)


@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    """A hub process started for the demo and stopped by PID when it ends."""
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [HUB, *command], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_healthy(url: str, timeout_s: float = 30.0) -> bool:
    """True once ``url`` answers 200 (bounded)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _demo_operator(settings: HubSettings) -> tuple[str, str]:
    """The first demo operator's id and password (public demo credentials)."""
    lines = (settings.config_dir / "dev-keys" / "operators.txt").read_text().splitlines()
    first = next(line for line in lines if line and not line.startswith("#"))
    operator, password = first.split()
    return operator, password


async def run_demo(console: Console, *, serve: bool = False) -> int:
    """Run the narrated demo; return the process exit status."""
    started = time.monotonic()
    base = get_settings()
    console.rule("[bold]NRM Hub — démonstration (Seine-Saint-Denis)")
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory(prefix="nrm-demo-") as data:
        settings = base.model_copy(
            update={"bootstrap_servers": broker.bootstrap_servers, "data_dir": Path(data)}
        )
        directory = Directory.load(settings.config_dir)
        await create_topics(settings, all_topics(a.id for a in directory))
        anchor = datetime.now(UTC)
        clock_start = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)  # a Monday morning
        env = {
            **os.environ,
            "HUB_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "HUB_DATA_DIR": data,
            "HUB_CLOCK_START": clock_start.isoformat(),
            "HUB_CLOCK_ANCHOR": anchor.isoformat(),
            "HUB_CLOCK_SPEED": str(SPEED),
            "HUB_LOG_JSON": "true",
        }
        console.print(
            f"broker [bold]{broker.bootstrap_servers}[/] (Tansu, mémoire), "
            f"{len(directory)} agences, horloge simulée ×{SPEED:,.0f}"
        )
        scene = Scene(console, settings, clock_start, anchor)
        gateway_port, dashboard_port = free_port(), free_port()
        logs = Path(data)
        with (
            _process(["worker"], env, logs / "worker.log"),
            _process(["gateway", "--port", str(gateway_port)], env, logs / "gateway.log"),
            _process(["dashboard", "--port", str(dashboard_port)], env, logs / "dashboard.log"),
        ):
            gateway = f"http://127.0.0.1:{gateway_port}"
            dashboard = f"http://127.0.0.1:{dashboard_port}"
            for name, url in (("passerelle HTTP", gateway), ("tableau de bord", dashboard)):
                up = await asyncio.to_thread(_wait_healthy, f"{url}/healthz")
                console.print(f"{name} {url} " + ("[green]prêt[/]" if up else "[red]absent[/]"))
            try:
                case_id = await _story(scene)
                await _epilogue(scene, case_id)
            finally:
                await scene.stop()
            operator, password = _demo_operator(settings)
            console.rule("Tableau de bord des opérateurs")
            console.print(
                f"{dashboard}  (démo : {operator} / {password}) — dossier "
                f"{dashboard}/dossiers/{case_id}",
                highlight=False,
            )
            if serve:
                console.print(
                    "broker, worker, passerelle et tableau de bord restent actifs : "
                    "Ctrl-C pour arrêter"
                )
                await asyncio.Event().wait()
    console.print(
        f"[green]terminé[/] en {time.monotonic() - started:.0f} s ; "
        "tout ce qui a été démarré est arrêté"
    )
    return 0


async def _story(scene: Scene) -> uuid.UUID:
    """The scenario; returns the main case's id."""
    case_id = uuid.uuid4()
    c = scene.console

    c.rule("1. Identification formelle")
    referral = _pick(case_id, ReferralOpened).model_copy(
        update={
            "envelope": _envelope(case_id, scene.now()),
            "identifying_role": AgencyRole.LABOUR_INSPECTORATE,
            "exploitation_types": (ExploitationType.LABOUR,),
        }
    )
    await scene.publish(
        "inspection-travail-93",
        referral,
        "identifie une victime d'exploitation par le travail "
        f"(indicateurs {', '.join(referral.indicator_codes)})",
    )
    scene.say(
        "   pas encore de consentement : la transmission à l'association est [yellow]retenue[/]"
    )

    c.rule("2. Consentement : accompagnement et hébergement seulement")
    consent = _pick(case_id, ConsentGiven).model_copy(
        update={
            "envelope": _envelope(case_id, scene.now()),
            "recipient_roles": (AgencyRole.SUPPORT_ASSOCIATION, AgencyRole.ACCOMMODATION_PROVIDER),
            "categories": (
                DataCategory.IDENTITY,
                DataCategory.CONTACT,
                DataCategory.HEALTH,
                DataCategory.EXPLOITATION_DETAILS,
            ),
        }
    )
    await scene.publish(
        "association-93",
        consent,
        "enregistre le consentement (identité, coordonnées, santé, faits) pour "
        "l'association et l'hébergeur",
    )
    await scene.expect("association-93", case_id, ReferralOpened)

    c.rule("3. Accompagnement et hébergement ; un refus, une réorientation")
    support = _pick(case_id, SupportRequested).model_copy(
        update={"envelope": _envelope(case_id, scene.now())}
    )
    await scene.publish("inspection-travail-93", support, "demande un accompagnement")
    asked = await scene.expect("association-93", case_id, SupportRequested)
    await scene.publish(
        "association-93",
        Acknowledgement(
            envelope=_envelope(case_id, scene.now()),
            request_id=asked.request_id,
            status=AckStatus.ACCEPTED,
        ),
        "accepte l'accompagnement",
    )
    request = _pick(case_id, AccommodationRequested)
    local = request.model_copy(
        update={
            "envelope": _envelope(case_id, scene.now()),
            "needs": request.needs.model_copy(update={"remote_placement": False}),
        }
    )
    await scene.publish("inspection-travail-93", local, "demande un hébergement sécurisé")
    housing = await scene.expect("hebergement-93", case_id, AccommodationRequested)
    await scene.publish(
        "hebergement-93",
        Acknowledgement(
            envelope=_envelope(case_id, scene.now()),
            request_id=housing.request_id,
            status=AckStatus.DECLINED,
            decline_reason=DeclineReason.NO_CAPACITY,
        ),
        "[red]refuse[/] : plus de place",
    )
    rerouted = await scene.expect("hebergement-95", case_id, AccommodationRequested)
    await scene.publish(
        "hebergement-95",
        Acknowledgement(
            envelope=_envelope(case_id, scene.now()),
            request_id=rerouted.request_id,
            status=AckStatus.ACCEPTED,
        ),
        "[green]accepte[/] l'hébergement",
    )
    await scene.expect("inspection-travail-93", case_id, Acknowledgement)

    c.rule("4. Titre de séjour : sans réponse de la préfecture")
    permit = _pick(case_id, PermitRequested).model_copy(
        update={"envelope": _envelope(case_id, scene.now())}
    )
    await scene.publish(
        "inspection-travail-93",
        permit,
        "demande le récépissé de délai de réflexion (CESEDA L425-1)",
    )
    await scene.expect("prefecture-93", case_id, PermitRequested)
    scene.say("   la préfecture ne répond pas ; le temps passe (5 jours ouvrés)…")
    for agency_id, label in (
        ("prefecture-93", "relance"),
        ("coordination-idf", "escalade régionale"),
        ("miprof", "escalade nationale"),
    ):
        escalation = await scene.expect(agency_id, case_id, Escalation, describe=False, wait_s=90)
        late = timedelta(seconds=escalation.late_by_seconds)
        scene.say(
            f"[bold magenta]![/] [bold]{agency_id}[/] {label} "
            f"({escalation.step.value}, en retard de {_french(late)})"
        )

    c.rule("5. Un mineur : protection de l'enfance sans attendre le consentement")
    minor_case = uuid.uuid4()
    minor = _pick(minor_case, ReferralOpened)
    minor = minor.model_copy(
        update={
            "envelope": _envelope(minor_case, scene.now()),
            "minor_suspected": True,
            "urgency": Urgency.URGENT,
        }
    )
    await scene.publish("police-93", minor, "identifie un mineur exploité")
    await scene.expect("ase-93", minor_case, ReferralOpened)
    await scene.expect("parquet-mineurs-93", minor_case, ReferralOpened)
    scene.say(
        "   base légale enregistrée : exception « child-protection-minor » (CASF L226-2-1, L226-3)"
    )

    c.rule("6. Retrait du consentement")
    await scene.publish(
        "association-93",
        ConsentWithdrawn(
            envelope=_envelope(case_id, scene.now()),
            recorded_by_role=AgencyRole.SUPPORT_ASSOCIATION,
        ),
        "enregistre le retrait du consentement",
    )
    await scene.expect("association-93", case_id, ConsentWithdrawn)
    await scene.expect("hebergement-95", case_id, ConsentWithdrawn)
    scene.say("   plus aucune donnée n'est partagée avec ces destinataires")

    c.rule("7. Un message usurpé")
    spoofed = support.model_copy(
        update={
            "envelope": _envelope(case_id, scene.now()).model_copy(update={"sender": "police-93"}),
            "request_id": uuid.uuid4(),
        }
    )
    await scene.publish(
        "association-93", spoofed, "publie un message qui prétend venir de police-93"
    )
    letter = await _dead_letter_of(scene, spoofed.envelope.event_id)
    scene.say(f"[bold red]✗[/] lettre morte {letter.reason.value} : {letter.detail}")
    return case_id


async def _dead_letter_of(scene: Scene, event_id: uuid.UUID) -> Any:
    from agents.redrive import list_dead_letters

    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        for letter in await list_dead_letters(scene.settings):
            if letter.event_id == event_id:
                return letter
        await asyncio.sleep(0.5)
    raise TimeoutError("the spoofed message was not dead-lettered")


async def _epilogue(scene: Scene, case_id: uuid.UUID) -> None:
    """Replay, verification and the overdue table, through the real CLI."""
    env = {
        **os.environ,
        "HUB_BOOTSTRAP_SERVERS": scene.settings.bootstrap_servers,
        "HUB_DATA_DIR": str(scene.settings.data_dir),
        "HUB_CLOCK_START": scene.clock_start.isoformat(),
        "HUB_CLOCK_ANCHOR": scene.anchor.isoformat(),
        "HUB_CLOCK_SPEED": str(SPEED),
        "HUB_LOG_LEVEL": "WARNING",
        "COLUMNS": str(scene.console.width),
    }

    async def hub(*command: str) -> str:
        result = await asyncio.to_thread(
            subprocess.run, [HUB, *command], env=env, capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"hub {' '.join(command)} failed: {result.stderr[-2000:]}")
        return result.stdout

    scene.console.rule(f"Rejeu du dossier {str(case_id)[:8]}, tel que la préfecture peut le voir")
    replay = json.loads(await hub("replay", str(case_id), "--as", "prefecture", "--json"))
    table = Table(show_lines=False, expand=True)
    for column in ("n°", "acteur", "action", "destinataire", "catégories visibles", "base"):
        table.add_column(column, overflow="fold")
    for entry in replay["entries"]:
        table.add_row(
            str(entry["seq"]),
            entry["actor"],
            entry["action"],
            entry.get("recipient") or "",
            ", ".join(entry.get("categories") or []),
            (entry.get("legal_basis") or "")[:28],
        )
    scene.console.print(table)
    scene.console.print(
        f"{len(replay['entries'])} entrées ; les données personnelles sont "
        "chiffrées par dossier et filtrées selon le rôle (jamais la santé pour "
        "une préfecture)"
    )
    scene.console.rule("Vérification de la chaîne d'audit")
    scene.console.print((await hub("audit", "verify", str(case_id))).rstrip(), highlight=False)
    scene.console.rule("Demandes en retard")
    scene.console.print((await hub("overdue")).rstrip(), highlight=False, markup=False)


def _french(delta: timedelta) -> str:
    days, seconds = delta.days, delta.seconds
    hours = seconds // 3600
    return f"{days} j {hours} h" if days else f"{hours} h {seconds % 3600 // 60} min"
