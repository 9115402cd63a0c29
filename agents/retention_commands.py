"""``hub retention``: apply the retention schedule (``deploy/config/retention.yaml``).

``hub retention run`` is the scheduled job of ``agents/retention_job.py``: it finds the cases
whose last contact is older than the schedule's period and has the routing worker expire them
(their key destroyed, an ERASED entry chained, every recipient told). ``--dry-run`` only lists
them. It refuses a clock set ahead of the wall clock (``HUB_CLOCK_START``): one operator's
setting must never make a case look older than it is; the worker checks again on its own
clock. Output for operators, in French.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Annotated, Final

import typer

from hub.cli.context import CHECK_FAILED, current_settings, fail, out

CLOCK_TOLERANCE: Final = timedelta(minutes=5)
"""How far ahead of the wall clock the hub's clock may read (hub policy: the skew of two
machines' clocks under NTP is far below; anything beyond is a clock set ahead)."""
retention_app = typer.Typer(
    no_args_is_help=True,
    help="Calendrier de conservation : détruire ce qui est gardé au-delà de sa durée.",
)


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Lister les dossiers arrivés à échéance, ne rien détruire."),
    ] = False,
    wait: Annotated[bool, typer.Option(help="Attendre que le worker les applique.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="JSON au lieu de texte.")] = False,
) -> None:
    """Détruire les données personnelles des dossiers sans contact depuis plus que la durée
    prévue (sauf obligation légale).

    Le worker qui détient le dossier vérifie l'échéance sur sa propre horloge et les
    obligations légales, détruit la clé du dossier (données d'audit, état scellé, lettres
    mortes et relances deviennent illisibles), avise les destinataires et chaîne une entrée
    ERASED, motif : durée de conservation échue."""
    from agents.retention_job import WAIT_S, run_retention
    from hub.audit.key_stores import key_store_for
    from hub.audit.keys import KeyStoreUnavailable
    from hub.contracts.codec import Codec
    from hub.contracts.registry import SchemaRegistry
    from hub.runtime.clock import clock_from, wall_clock
    from hub.runtime.config_files import ConfigError

    settings = current_settings()
    now = clock_from(settings.clock_start, settings.clock_anchor, settings.clock_speed)()
    wall = wall_clock()
    if now > wall + CLOCK_TOLERANCE:
        raise fail(
            f"horloge du hub ({now:%Y-%m-%d %H:%M} UTC) en avance sur l'heure réelle "
            f"({wall:%Y-%m-%d %H:%M} UTC) : rien n'est expiré sur une horloge avancée"
        )
    codec = Codec(
        SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
    )
    try:
        run = asyncio.run(
            run_retention(
                settings,
                codec,
                now,
                key_store=key_store_for(settings),
                dry_run=dry_run,
                wait_s=WAIT_S if wait else 0.0,
            )
        )
    except KeyStoreUnavailable as exc:
        raise fail(f"magasin de clés indisponible : {exc}", CHECK_FAILED) from None
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except ValueError as exc:  # the hub's signing key cannot be read
        raise fail(f"impossible de signer au nom du hub : {exc}") from None
    if as_json:
        document = {
            "now": run.now.isoformat(),
            "period_days": run.period_days,
            "cases": run.cases,
            "dry_run": dry_run,
            "run_id": None if run.run_id is None else str(run.run_id),
            "due": [
                {"case_id": str(d.case_id), "last_contact": d.last_contact.isoformat()}
                for d in run.due
            ],
            "held": [
                {
                    "case_id": str(h.case_id),
                    "last_contact": h.last_contact.isoformat(),
                    "holds": list(h.holds),
                }
                for h in run.held
            ],
            "expired": [str(c) for c in run.expired],
            "pending": [str(c) for c in run.pending],
        }
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    out.print(
        f"calendrier de conservation : données personnelles détruites {run.period_days} jours "
        f"après le dernier contact (heure : {run.now:%Y-%m-%d %H:%M} UTC)",
        highlight=False,
        soft_wrap=True,
    )
    expired = set(run.expired)
    for due in run.due:
        if dry_run:
            what = "à expirer (simulation : rien n'est envoyé)"
        elif due.case_id in expired:
            what = "expiré par le worker, clé détruite, destinataires avisés"
        elif not wait:
            what = "expiration envoyée au worker"
        else:
            what = "expiration envoyée, pas encore appliquée (voir hub replay)"
        out.print(
            f"dossier {due.case_id}, dernier contact le {due.last_contact:%Y-%m-%d} : {what}",
            highlight=False,
            soft_wrap=True,
        )
    for held in run.held:
        out.print(
            f"dossier {held.case_id}, dernier contact le {held.last_contact:%Y-%m-%d} : "
            f"conservé, obligation légale {', '.join(held.holds)}",
            highlight=False,
            soft_wrap=True,
        )
    out.print(
        f"{run.cases} dossier(s) examiné(s), {len(run.due)} arrivé(s) à échéance, "
        f"{len(run.held)} conservé(s) par une obligation légale, {len(run.expired)} expiré(s)",
        highlight=False,
    )
