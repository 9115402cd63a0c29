"""``hub erase``: erasure as a workflow, for operators without a browser.

::

    hub erase request CASE --by OPERATOR --reason TEXT [--yes] [--no-wait]
    hub erase approve REQUEST --by DPO [--hold STATUTORY_ARCHIVE ...] [--yes] [--no-wait]
    hub erase reject REQUEST --by DPO --reason TEXT [--yes] [--no-wait]
    hub erase lift CASE --by DPO --informed WHEN --reason TEXT [--yes] [--no-wait]
    hub erase pending [--json]

``request``, ``approve``, ``reject`` and ``lift`` write an ``ErasureRequested`` /
``ErasureApproved`` / ``ErasureRejected`` / ``RestrictionLifted`` to ``nrm.erasure``, signed
with the operator-action key (whoever runs them holds it; never the hub's key), keyed by the
case: the routing worker owning the case applies them in order, as the single writer of its
chain (``hub/flow/erasure.py``). The command checks what it can first (the operator's role,
four eyes, the request pending, the person told before a restriction is lifted) so a mistake
is one clear line, but the worker decides: it checks again, then the legal holds, and erases,
restricts or lifts. The command then waits (``--no-wait``: it does not) until the case's state
shows the outcome, and says it in French.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Final

import typer

from hub.cli.context import CHECK_FAILED, current_settings, fail, out
from hub.cli.operator_output import confirm
from hub.rules.roles import Allowed, OperatorRoster, Permission, decide, four_eyes

if TYPE_CHECKING:
    from pydantic import BaseModel

    from hub.flow.case_state import CaseState, PendingErasure
    from hub.runtime.settings import HubSettings

WAIT_S: Final = 30.0
erase_app = typer.Typer(
    no_args_is_help=True,
    help="Effacement RGPD : demande, approbation ou rejet par le DPO (quatre yeux), "
    "demandes en attente.",
)


def _roster() -> OperatorRoster:
    return OperatorRoster.load(current_settings().config_dir)


def _uuid(text: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise fail(f"{text!r} n'est pas un identifiant de {what} (uuid)") from None


async def _publish(settings: HubSettings, event: BaseModel, case_id: uuid.UUID) -> None:
    """Write ``event`` to ``nrm.erasure`` (``agents.erasure_publisher``: keyed by its case,
    signed with the operator-action key, as the dashboard writes it)."""
    from agents.erasure_publisher import publish_erasure_command

    await publish_erasure_command(settings, event, case_id)


async def _state(settings: HubSettings, case_id: uuid.UUID) -> CaseState | None:
    from agents.io.case_store import read_case

    return await read_case(settings, case_id)


async def _wait_for(
    settings: HubSettings, case_id: uuid.UUID, done: str, request_id: uuid.UUID
) -> CaseState | None:
    """The case's state once the worker applied the command (None: not within WAIT_S)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        state = await _state(settings, case_id)
        if state is not None:
            pending = {p.request_id for p in state.erasure_requests}
            if done == "requested" and request_id in pending:
                return state
            if done == "approved" and request_id not in pending:  # approved or rejected
                return state
        await asyncio.sleep(0.5)
    return None


def _envelope(case_id: uuid.UUID) -> dict[str, object]:
    return {"event_id": uuid.uuid4(), "case_id": case_id, "occurred_at": datetime.now(UTC)}


@erase_app.command("request")
def request(
    case: Annotated[str, typer.Argument(help="Identifiant du dossier (uuid).")],
    by: Annotated[str, typer.Option("--by", help="Opérateur qui demande (operators.yaml).")],
    reason: Annotated[str, typer.Option(help="Motif, sans donnée personnelle.")],
    yes: Annotated[bool, typer.Option("--yes", help="Sans confirmation.")] = False,
    wait: Annotated[bool, typer.Option(help="Attendre que le worker l'enregistre.")] = True,
) -> None:
    """Demander l'effacement d'un dossier (RGPD art. 17) ; un DPO devra l'approuver."""
    from hub.contracts.envelope import Envelope
    from hub.contracts.erasure_events import ErasureRequested

    settings = current_settings()
    case_id = _uuid(case, "dossier")
    if not reason.strip():
        raise fail("le motif est obligatoire")
    state = asyncio.run(_state(settings, case_id))
    if state is None:
        raise fail(f"dossier {case_id} inconnu du hub", CHECK_FAILED)
    if state.erased_at is not None:
        raise fail(f"le dossier {case_id} est déjà effacé", CHECK_FAILED)
    region = None
    if state.facts.departement:
        from hub.rules.directory import Directory

        region = Directory.load(settings.config_dir).region_of(state.facts.departement)
    decision = decide(
        _roster().grant(by), Permission.REQUEST_ERASURE, case_region=region, on_case=True
    )
    if not isinstance(decision, Allowed):
        raise fail(f"{by} ne peut pas demander l'effacement : {decision.reason}")
    confirm(f"Demander l'effacement du dossier {case_id}", yes=yes)
    request_id = uuid.uuid4()
    event = ErasureRequested(
        envelope=Envelope.model_validate(_envelope(case_id)),
        request_id=request_id,
        requested_by=by,
        reason=reason.strip(),
    )
    asyncio.run(_publish(settings, event, case_id))
    out.print(f"Demande d'effacement {request_id} envoyée pour le dossier {case_id}.")
    if wait and asyncio.run(_wait_for(settings, case_id, "requested", request_id)) is None:
        out.print("Le worker ne l'a pas encore enregistrée ; `hub erase pending` la montrera.")
        return
    out.print("En attente de l'approbation d'un(e) délégué(e) à la protection des données.")


@erase_app.command("approve")
def approve(
    request_id: Annotated[str, typer.Argument(help="Identifiant de la demande (uuid).")],
    by: Annotated[str, typer.Option("--by", help="DPO qui approuve (operators.yaml).")],
    hold: Annotated[
        list[str] | None,
        typer.Option(help="Obligation légale connue du DPO (ex. STATUTORY_ARCHIVE)."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Sans confirmation.")] = False,
    wait: Annotated[bool, typer.Option(help="Attendre le résultat.")] = True,
) -> None:
    """Approuver une demande d'effacement (quatre yeux) : effacement, ou limitation si une
    obligation légale s'y oppose (RGPD art. 17(3), 18)."""
    from hub.contracts.envelope import Envelope
    from hub.contracts.erasure_events import ErasureApproved
    from hub.rules.holds import HoldPolicy

    settings = current_settings()
    wanted = _uuid(request_id, "demande")
    policy = HoldPolicy.load(settings.config_dir)
    unknown = [h for h in hold or [] if not policy.known(h)]
    if unknown:
        known = ", ".join(h.id for h in policy.holds)
        raise fail(f"obligation légale inconnue : {', '.join(unknown)} (connues : {known})")
    found = _pending(settings).get(wanted)
    if found is None:
        raise fail(f"aucune demande d'effacement {wanted} en attente", CHECK_FAILED)
    state, waiting = found
    allowed = four_eyes(waiting.requested_by, _roster().grant(by))
    if not isinstance(allowed, Allowed):
        raise fail(f"approbation refusée : {allowed.reason}")
    confirm(
        f"Approuver l'effacement du dossier {state.case_id} demandé par "
        f"{waiting.requested_by} ({waiting.reason})",
        yes=yes,
    )
    event = ErasureApproved(
        envelope=Envelope.model_validate(_envelope(state.case_id)),
        request_id=wanted,
        approved_by=by,
        declared_holds=tuple(hold or ()),
    )
    asyncio.run(_publish(settings, event, state.case_id))
    out.print(f"Approbation envoyée pour la demande {wanted}.")
    if not wait:
        return
    after = asyncio.run(_wait_for(settings, state.case_id, "approved", wanted))
    if after is None:
        raise fail("le worker n'a pas encore appliqué l'approbation ; réessayez plus tard", 1)
    if after.erased_at is not None:
        out.print(
            f"Dossier {state.case_id} effacé : clé détruite, destinataires avisés (RGPD art. 19)."
        )
    elif after.restricted is not None:
        holds = ", ".join(after.restricted.holds)
        out.print(
            f"Effacement refusé : obligation légale {holds}. Traitement du dossier "
            f"{state.case_id} limité (RGPD art. 18) ; destinataires avisés."
        )


@erase_app.command("reject")
def reject(
    request_id: Annotated[str, typer.Argument(help="Identifiant de la demande (uuid).")],
    by: Annotated[str, typer.Option("--by", help="DPO qui rejette (operators.yaml).")],
    reason: Annotated[str, typer.Option(help="Motif, à communiquer à la personne.")],
    yes: Annotated[bool, typer.Option("--yes", help="Sans confirmation.")] = False,
    wait: Annotated[bool, typer.Option(help="Attendre que le worker l'enregistre.")] = True,
) -> None:
    """Rejeter une demande d'effacement (DPO), avec le motif à communiquer (RGPD art. 12(4))."""
    from hub.contracts.envelope import Envelope
    from hub.contracts.erasure_events import ErasureRejected

    settings = current_settings()
    wanted = _uuid(request_id, "demande")
    if not reason.strip():
        raise fail("le motif est obligatoire")
    found = _pending(settings).get(wanted)
    if found is None:
        raise fail(f"aucune demande d'effacement {wanted} en attente", CHECK_FAILED)
    state, waiting = found
    allowed = decide(_roster().grant(by), Permission.APPROVE_ERASURE)
    if not isinstance(allowed, Allowed):
        raise fail(f"rejet refusé : {allowed.reason}")
    confirm(f"Rejeter la demande d'effacement du dossier {state.case_id}", yes=yes)
    event = ErasureRejected(
        envelope=Envelope.model_validate(_envelope(state.case_id)),
        request_id=wanted,
        rejected_by=by,
        reason=reason.strip(),
    )
    asyncio.run(_publish(settings, event, state.case_id))
    out.print(f"Rejet envoyé pour la demande {wanted} ({waiting.requested_by}).")
    if wait and asyncio.run(_wait_for(settings, state.case_id, "approved", wanted)) is not None:
        out.print("Demande rejetée ; motif enregistré dans le journal d'audit du dossier.")


def _informed_at(text: str) -> datetime:
    """An operator's date and time (ISO 8601; without a zone: Paris time) as a UTC instant."""
    from hub.rules.working_days import PARIS

    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise fail(f"{text!r} n'est pas une date (ex. 2026-12-01T10:30)") from None
    return (when if when.tzinfo else when.replace(tzinfo=PARIS)).astimezone(UTC)


@erase_app.command("lift")
def lift(
    case: Annotated[str, typer.Argument(help="Identifiant du dossier (uuid).")],
    by: Annotated[str, typer.Option("--by", help="DPO qui lève la limitation.")],
    informed: Annotated[
        str,
        typer.Option(
            "--informed",
            help="Quand la personne a été informée de la levée (ISO 8601, heure de Paris).",
        ),
    ],
    reason: Annotated[str, typer.Option(help="Motif (ex. décision rendue), sans donnée.")],
    yes: Annotated[bool, typer.Option("--yes", help="Sans confirmation.")] = False,
    wait: Annotated[bool, typer.Option(help="Attendre le résultat.")] = True,
) -> None:
    """Lever la limitation du traitement d'un dossier (RGPD art. 18(3)) : la personne doit en
    avoir été informée avant ; les destinataires sont avisés."""
    from hub.cli.operator_output import paris_time
    from hub.contracts.envelope import Envelope
    from hub.contracts.erasure_events import RestrictionLifted

    settings = current_settings()
    case_id = _uuid(case, "dossier")
    if not reason.strip():
        raise fail("le motif est obligatoire")
    informed_at = _informed_at(informed)
    if informed_at > datetime.now(UTC):
        raise fail("la personne doit être informée avant la levée (RGPD art. 18(3))")
    state = asyncio.run(_state(settings, case_id))
    if state is None:
        raise fail(f"dossier {case_id} inconnu du hub", CHECK_FAILED)
    restriction = state.restricted
    if restriction is None:
        raise fail(f"le traitement du dossier {case_id} n'est pas limité", CHECK_FAILED)
    if informed_at < restriction.since:
        raise fail(
            f"information du {paris_time(informed_at)} antérieure à la limitation "
            f"({paris_time(restriction.since)}) : la personne doit être informée de la levée"
        )
    allowed = decide(_roster().grant(by), Permission.APPROVE_ERASURE)
    if not isinstance(allowed, Allowed):
        raise fail(f"levée refusée : {allowed.reason}")
    confirm(f"Lever la limitation du dossier {case_id} ({', '.join(restriction.holds)})", yes=yes)
    event = RestrictionLifted(
        envelope=Envelope.model_validate(_envelope(case_id)),
        request_id=restriction.request_id,
        lifted_by=by,
        reason=reason.strip(),
        person_informed_at=informed_at,
    )
    asyncio.run(_publish(settings, event, case_id))
    out.print(f"Levée de la limitation envoyée pour le dossier {case_id}.")
    if not wait:
        return
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        after = asyncio.run(_state(settings, case_id))
        if after is not None and after.restricted is None:
            out.print(
                f"Limitation levée : le dossier {case_id} est de nouveau traité ; "
                "destinataires avisés."
            )
            return
        time.sleep(0.5)
    raise fail(
        "le worker n'a pas levé la limitation (une obligation légale s'applique encore ? "
        "voir hub replay)",
        CHECK_FAILED,
    )


def _pending(settings: HubSettings) -> dict[uuid.UUID, tuple[CaseState, PendingErasure]]:
    from agents.io.case_store import read_all_states

    states = asyncio.run(read_all_states(settings))
    return {p.request_id: (s, p) for s in states for p in s.erasure_requests}


@erase_app.command("pending")
def pending(
    as_json: Annotated[bool, typer.Option("--json", help="JSON.")] = False,
) -> None:
    """Les demandes d'effacement en attente d'approbation."""
    from agents.io.case_store import read_all_states

    states = asyncio.run(read_all_states(current_settings()))
    rows = [
        {
            "request_id": str(p.request_id),
            "case_id": str(s.case_id),
            "requested_by": p.requested_by,
            "reason": p.reason,
            "requested_at": p.requested_at.isoformat(),
        }
        for s in states
        for p in s.erasure_requests
    ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        out.print("Aucune demande d'effacement en attente.")
        return
    for row in rows:
        out.print(
            f"{row['request_id']}  dossier {row['case_id']}  demandée par {row['requested_by']}"
            f" le {row['requested_at'][:16]} : {row['reason']}",
            highlight=False,
        )
