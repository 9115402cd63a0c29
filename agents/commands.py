"""The worker's ``hub`` commands: ``worker``, ``overdue``, ``case``, ``deadletters``, the
audit trail's (``agents/audit_commands.py``), ``directory`` (``agents/directory_commands.py``)
``retention`` (``agents/retention_commands.py``) and ``erase``
(``agents/erasure_commands.py``).

Mounted by ``hub/cli/app.py`` through the ``nrm_hub.commands`` entry point (pyproject.toml): the
hub's own command line never imports the worker. The worker's modules are imported inside
the commands, so ``hub --help`` stays quick.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Annotated

import typer

from agents.audit_commands import register_audit_commands
from agents.directory_commands import directory_app
from agents.erasure_commands import erase_app
from agents.retention_commands import retention_app
from hub.cli.context import CHECK_FAILED, current_settings, fail, out, run_on_broker
from hub.cli.operator_output import (
    CASE,
    DEAD_LETTER,
    emit_json,
    operator_listing,
    paris_time,
    parse_id,
    resolve_id,
)

case_app = typer.Typer(
    no_args_is_help=True, help="Un dossier : état, demandes ouvertes, échéances."
)
deadletters_app = typer.Typer(
    no_args_is_help=True,
    help="Lettres mortes : les lister, relancer celles qu'une correction peut faire passer.",
)


def register(app: typer.Typer) -> None:
    """Add the worker's commands and groups to ``app``."""
    register_audit_commands(app)
    app.command()(worker)
    app.command()(overdue)
    app.add_typer(case_app, name="case")
    app.add_typer(deadletters_app, name="deadletters")
    app.add_typer(directory_app, name="directory")
    app.add_typer(retention_app, name="retention")
    app.add_typer(erase_app, name="erase")


def worker() -> None:
    """Lancer un worker du hub (routage) sur HUB_BOOTSTRAP_SERVERS jusqu'à SIGTERM ou Ctrl-C."""
    from agents.task_dump import log_task_stacks
    from agents.worker import run_worker

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, log_task_stacks)
        await run_worker(current_settings(), stop)

    from hub.audit.keys import KeyStoreUnavailable
    from hub.runtime.config_files import ConfigError
    from hub.trust.agency_keys import KeyFileError
    from hub.trust.directory_authority import AuthorityConfigError

    try:
        asyncio.run(main())
    except (AuthorityConfigError, KeyFileError, ConfigError, KeyStoreUnavailable) as exc:
        # A key or configuration file the worker cannot use: one line, not a traceback.
        raise fail(str(exc)) from None


def overdue(
    agency: Annotated[
        str | None, typer.Option(help="Seulement les demandes à cet organisme.")
    ] = None,
    role: Annotated[str | None, typer.Option(help="Seulement les demandes à ce rôle.")] = None,
    departement: Annotated[str | None, typer.Option(help="Seulement ce département.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON au lieu d'un tableau.")] = False,
) -> None:
    """Demandes en retard : dossier, destinataire, objet, échéance, retard, palier."""
    from agents.io.case_store import read_all_states
    from hub.cli.overdue import render_overdue
    from hub.contracts.enums import AgencyRole
    from hub.runtime.clock import clock_from

    settings = current_settings()
    try:
        wanted_role = AgencyRole(role.upper()) if role else None
    except ValueError:
        known = ", ".join(r.value for r in AgencyRole)
        raise fail(f"rôle inconnu « {role} » ; l'un de : {known}") from None
    states = run_on_broker(read_all_states(settings))
    deadlines = [d for state in states for d in state.open_deadlines()]
    now = clock_from(settings.clock_start, settings.clock_anchor, settings.clock_speed)()
    text = render_overdue(
        deadlines,
        now,
        agency=agency,
        role=wanted_role,
        departement=departement,
        as_json=as_json,
        width=out.width,
    )
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


@case_app.command("show")
def case_show(
    case: Annotated[str, typer.Argument(help="Identifiant du dossier (UUID, ou son début).")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON au lieu de texte.")] = False,
) -> None:
    """L'état du dossier, ses demandes ouvertes et leurs échéances, le délai de réflexion, et
    qui doit agir ensuite. Heures de Paris, avec leur fuseau."""
    from uuid import UUID

    from agents.io.case_store import read_all_states, read_case
    from hub.cli.case_view import case_summary, render_case
    from hub.runtime.clock import clock_from

    settings = current_settings()
    wanted = parse_id(case, CASE)
    if isinstance(wanted, UUID):
        state = run_on_broker(read_case(settings, wanted))
        if state is None:
            raise fail(f"aucun dossier {wanted} dans le hub", CHECK_FAILED)
    else:
        states = {s.case_id: s for s in run_on_broker(read_all_states(settings))}
        state = states[resolve_id(wanted, states, CASE)]
    now = clock_from(settings.clock_start, settings.clock_anchor, settings.clock_speed)()
    if as_json:
        emit_json(case_summary(state, now))
    else:
        out.print(render_case(state, now, width=out.width))


@deadletters_app.command("list")
def deadletters_list(
    reason: Annotated[
        str | None, typer.Option(help="Seulement cette raison (ex. BAD_SIGNATURE).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON au lieu d'un tableau.")] = False,
) -> None:
    """Lettres mortes pas encore relancées : identifiant, raison, source, dossier, détail,
    et si une relance peut aider."""
    from agents.redrive import list_stored, refusal_of
    from hub.contracts.enums import DeadLetterReason

    known = {r.value for r in DeadLetterReason}
    if reason and reason.upper() not in known:
        raise fail(f"raison inconnue « {reason} » ; l'une de : {', '.join(sorted(known))}")
    stored = run_on_broker(list_stored(current_settings()))
    if reason:
        stored = [s for s in stored if s.letter.reason.value == reason.upper()]
    refusals = {s.letter.dead_letter_id: refusal_of(s) for s in stored}
    letters = [s.letter for s in stored]
    if as_json:
        emit_json(
            [
                {
                    **d.model_dump(
                        mode="json",
                        exclude={"original", "original_headers", "original_key"},
                    ),
                    "original_bytes": len(d.original),
                    "redrive_refusal": refusals[d.dead_letter_id],
                }
                for d in letters
            ]
        )
        return
    listing = operator_listing(
        f"{len(letters)} lettre(s) morte(s), heure de Paris",
        [
            "identifiant",
            "reçue",
            "raison",
            "source",
            "dossier",
            "relance",
            "détail technique (anglais)",
        ],
        [
            [
                str(d.dead_letter_id),
                paris_time(d.occurred_at),
                d.reason.value,
                f"{d.source_topic}[{d.source_partition}]@{d.source_offset}",
                str(d.case_id or "—"),
                "possible"
                if refusals[d.dead_letter_id] is None
                else "non : " + (refusals[d.dead_letter_id] or ""),
                d.detail[:300],
            ]
            for d in letters
        ],
        ids=["identifiant", "dossier"],
        width=out.width,
    )
    out.print(listing, highlight=False, markup=False)


@deadletters_app.command("redrive")
def deadletters_redrive(
    dead_letter_id: Annotated[
        str, typer.Argument(help="Identifiant de la lettre morte (UUID, ou son début).")
    ],
) -> None:
    """Relancer une lettre morte une fois sa cause corrigée (le worker la traite de nouveau).
    Refusé pour une lettre qu'aucune correction ne peut faire passer (message forgé, non
    signé, altéré, illisible, rejoué)."""
    from uuid import UUID

    from agents.redrive import RedriveError, list_dead_letters, redrive

    settings = current_settings()
    wanted = parse_id(dead_letter_id, DEAD_LETTER)
    if not isinstance(wanted, UUID):
        letters = run_on_broker(list_dead_letters(settings, include_redriven=True))
        wanted = resolve_id(wanted, (d.dead_letter_id for d in letters), DEAD_LETTER)
    try:
        result = run_on_broker(redrive(settings, wanted))
    except RedriveError as exc:
        raise fail(str(exc), CHECK_FAILED) from None
    except ValueError as exc:  # the operator-action key cannot be read: nothing was written
        raise fail(f"relance impossible : {exc}") from None
    out.print(
        f"lettre morte {wanted} relancée → nrm.redrive[{result.partition}]@{result.offset}",
        highlight=False,
    )
