"""The demo's story: the person's pathway, as a narrated French scenario.

It starts the embedded broker, creates every topic, starts a hub worker process on a fast
simulated clock (days pass in seconds, so deadlines and escalations happen during the demo),
then plays simulated agencies in Seine-Saint-Denis through the signed agency client:

1. the association reports a presumed victim of labour exploitation with her consent: support
   and accommodation go out at once, before any identification; the local provider declines
   (no capacity) and the request is re-routed to the next provider, which accepts;
2. the labour inspectorate finds reasonable grounds: the pathway opens;
3. the person's choice: informed of her rights in her language, she chooses the reflection
   period; nothing reaches the prefecture until she consents to it;
4. the permit request reaches the prefecture (identity and status only), goes unanswered,
   is reminded, then escalated to the regional and national coordination;
5. a minor's referral reaches child protection and the juvenile prosecutor without consent;
6. the first consent is withdrawn: its recipients are told, nothing more is shared with them;
7. a spoofed message is dead-lettered, and its sender is told why (a refusal notice);
8. a report carrying an indicator code outside the shared grid is dead-lettered.

Then it replays one case's audit trail, verifies its chain, prints the overdue table, stops
everything it started and exits 0. ``--serve`` keeps the broker (and the services) up.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from datetime import timedelta
from typing import Any

from rich.table import Table

from agents.redrive import list_dead_letters
from connectors.demo.scene import HUB, SPEED, STEP_TIMEOUT_S, Scene, envelope, french, pick
from hub.contracts.enums import (
    AckStatus,
    AgencyRole,
    ConsentMethod,
    DataCategory,
    DeclineReason,
    IdentificationOutcome,
    RightsTopic,
    SupportType,
    Urgency,
)
from hub.contracts.events import (
    AccommodationNeeds,
    AccommodationRequested,
    Acknowledgement,
    ConsentGiven,
    ConsentWithdrawn,
    Escalation,
    IdentificationDecision,
    PathwayChoiceRecorded,
    PermitRequested,
    PresumedVictimReport,
    ReferralOpened,
    RefusalNotice,
    RightsInformationGiven,
    SupportRequested,
)


async def story(scene: Scene) -> uuid.UUID:
    """The scenario; returns the main case's id."""
    case_id = uuid.uuid4()
    c = scene.console

    c.rule("1. Signalement et aide immédiate, sans condition")
    consent = pick(case_id, ConsentGiven).model_copy(
        update={
            "envelope": envelope(case_id, scene.now()),
            "recipient_roles": (
                AgencyRole.SUPPORT_ASSOCIATION,
                AgencyRole.ACCOMMODATION_PROVIDER,
                AgencyRole.LABOUR_INSPECTORATE,
            ),
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
        "enregistre le consentement de la personne (identité, coordonnées, santé, faits) "
        "pour l'association, l'hébergeur et l'inspection du travail",
    )
    report = pick(case_id, PresumedVictimReport).model_copy(
        update={
            "envelope": envelope(case_id, scene.now()),
            "accommodation_needs": AccommodationNeeds(
                urgency=Urgency.URGENT, preferred_departement="93"
            ),
            "support_needed": (SupportType.SOCIAL, SupportType.LEGAL),
        }
    )
    await scene.publish(
        "association-93",
        report,
        "signale une victime présumée d'exploitation par le travail, avec ses besoins "
        "(indicateurs : "
        + "; ".join(scene.indicator_label(code) for code in report.indicator_codes)
        + ")",
    )
    await scene.expect("inspection-travail-93", case_id, PresumedVictimReport)
    scene.say("   l'aide n'attend ni l'identification ni une plainte (directive 2011/36, art. 11)")
    asked = await scene.expect("association-93", case_id, SupportRequested)
    await scene.publish(
        "association-93",
        Acknowledgement(
            envelope=envelope(case_id, scene.now()),
            request_id=asked.request_id,
            status=AckStatus.ACCEPTED,
        ),
        "accepte l'accompagnement",
    )
    housing = await scene.expect("hebergement-93", case_id, AccommodationRequested)
    await scene.publish(
        "hebergement-93",
        Acknowledgement(
            envelope=envelope(case_id, scene.now()),
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
            envelope=envelope(case_id, scene.now()),
            request_id=rerouted.request_id,
            status=AckStatus.ACCEPTED,
        ),
        "[green]accepte[/] l'hébergement",
    )

    c.rule("2. Motifs raisonnables : le parcours s'ouvre")
    await scene.publish(
        "inspection-travail-93",
        IdentificationDecision(
            envelope=envelope(case_id, scene.now()),
            report_event_id=report.envelope.event_id,
            outcome=IdentificationOutcome.REASONABLE_GROUNDS,
            indicator_codes=report.indicator_codes,
        ),
        "estime qu'il existe des [bold]motifs raisonnables[/] de croire qu'elle est victime",
    )
    await scene.expect("association-93", case_id, IdentificationDecision)
    scene.say("   la décision définitive suivra ; rien n'est encore envoyé à la préfecture")

    c.rule("3. Le choix de la personne")
    information = RightsInformationGiven(
        envelope=envelope(case_id, scene.now()),
        topics=(
            RightsTopic.REFLECTION_PERIOD,
            RightsTopic.ACCOMMODATION,
            RightsTopic.SUPPORT,
            RightsTopic.RESIDENCE_PERMIT_L425_1,
            RightsTopic.HUMANITARIAN_ADMISSION,
            RightsTopic.ASYLUM,
        ),
        language="ff",
        interpreter=True,
        given_by_role=AgencyRole.POLICE_GENDARMERIE,
    )
    await scene.publish(
        "association-93",
        information,
        "enregistre l'information donnée en peul, avec interprète : délai de réflexion, "
        "hébergement, accompagnement, titre de séjour (L425-1), admission humanitaire, asile",
    )
    choice = PathwayChoiceRecorded(
        envelope=envelope(case_id, scene.now()),
        information_event_id=information.envelope.event_id,
        reflection_period=True,
        accommodation_wanted=True,
        support_wanted=True,
        person=report.person,
    )
    await scene.publish(
        "association-93",
        choice,
        "enregistre son choix : [bold]le délai de réflexion[/] ; pas de plainte pour "
        "l'instant ; hébergement et accompagnement, oui",
    )
    scene.say(
        "   sans son consentement pour la préfecture, la demande de récépissé est "
        "[yellow]retenue[/]"
    )

    c.rule("4. Titre de séjour : sans réponse de la préfecture")
    await scene.publish(
        "association-93",
        ConsentGiven(
            envelope=envelope(case_id, scene.now()),
            consent_id=uuid.uuid4(),
            categories=(DataCategory.IDENTITY, DataCategory.IMMIGRATION_STATUS),
            recipient_roles=(AgencyRole.PREFECTURE,),
            purpose="demande de récépissé de délai de réflexion (CESEDA R425-2)",
            recorded_by_role=AgencyRole.SUPPORT_ASSOCIATION,
            method=ConsentMethod.ORAL_WITH_INTERPRETER,
        ),
        "enregistre son consentement pour la préfecture (identité, situation administrative)",
    )
    await scene.expect("prefecture-93", case_id, PermitRequested)
    scene.say(
        "   le délai de 30 jours courra à la remise du récépissé (CESEDA R425-2) ; "
        "la préfecture ne répond pas ; le temps passe (5 jours ouvrés)…"
    )
    for agency_id, label in (
        ("prefecture-93", "relance"),
        ("coordination-idf", "escalade régionale"),
        ("miprof", "escalade nationale"),
    ):
        escalation = await scene.expect(agency_id, case_id, Escalation, describe=False, wait_s=90)
        late = timedelta(seconds=escalation.late_by_seconds)
        scene.say(
            f"[bold magenta]![/] [bold]{agency_id}[/] {label} "
            f"({escalation.step.value}, en retard de {french(late)})"
        )

    c.rule("5. Un mineur : protection de l'enfance sans attendre le consentement")
    minor_case = uuid.uuid4()
    minor = pick(minor_case, ReferralOpened)
    minor = minor.model_copy(
        update={
            "envelope": envelope(minor_case, scene.now()),
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
            envelope=envelope(case_id, scene.now()),
            consent_id=consent.consent_id,
            recorded_by_role=AgencyRole.SUPPORT_ASSOCIATION,
        ),
        "enregistre le retrait du consentement donné à l'association et à l'hébergeur",
    )
    await scene.expect("association-93", case_id, ConsentWithdrawn)
    await scene.expect("hebergement-95", case_id, ConsentWithdrawn)
    scene.say("   plus aucune donnée n'est partagée avec ces destinataires")

    c.rule("7. Un message usurpé")
    support = pick(case_id, SupportRequested)
    spoofed = support.model_copy(
        update={
            "envelope": envelope(case_id, scene.now()).model_copy(update={"sender": "police-93"}),
            "request_id": uuid.uuid4(),
        }
    )
    await scene.publish(
        "association-93", spoofed, "publie un message qui prétend venir de police-93"
    )
    letter = await _dead_letter_of(scene, spoofed.envelope.event_id)
    scene.say(f"[bold red]✗[/] lettre morte {letter.reason.value} : {letter.detail}")
    notice = await scene.expect("association-93", case_id, RefusalNotice, describe=False)
    scene.say(f"[bold yellow]←[/] [bold]association-93[/] est prévenue du refus : {notice.detail}")

    c.rule("8. Un indicateur hors de la grille commune")
    other_case = uuid.uuid4()
    free_text = pick(other_case, PresumedVictimReport).model_copy(
        update={"envelope": envelope(other_case, scene.now()), "indicator_codes": ("TRAV-01",)}
    )
    await scene.publish(
        "association-93",
        free_text,
        "signale une victime avec un code d'indicateur qui n'est pas dans la grille commune",
    )
    letter = await _dead_letter_of(scene, free_text.envelope.event_id)
    scene.say(f"[bold red]✗[/] lettre morte {letter.reason.value} : {letter.detail}")
    return case_id


async def _dead_letter_of(scene: Scene, event_id: uuid.UUID) -> Any:
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        for letter in await list_dead_letters(scene.settings):
            if letter.event_id == event_id:
                return letter
        await asyncio.sleep(0.5)
    raise TimeoutError("the spoofed message was not dead-lettered")


async def epilogue(scene: Scene, case_id: uuid.UUID) -> None:
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
