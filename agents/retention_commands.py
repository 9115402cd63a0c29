"""``hub retention``: apply the retention schedule (``deploy/config/retention.yaml``).

``hub retention run`` is the scheduled job of ``agents/retention_job.py``: it shreds the
personal data of the cases closed longer than the schedule's period, on the hub's clock
(simulated when ``HUB_CLOCK_START`` is set). ``--dry-run`` only lists them. Output for
operators, in French.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from hub.cli.context import CHECK_FAILED, current_settings, fail, out

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
    as_json: Annotated[bool, typer.Option("--json", help="JSON au lieu de texte.")] = False,
) -> None:
    """Détruire les données personnelles des dossiers clos depuis plus que la durée prévue.

    La clé du dossier est détruite (données d'audit, état scellé, lettres mortes et relances
    deviennent illisibles) et une entrée ERASED, motif : durée de conservation échue, est
    chaînée."""
    from agents.retention_job import RetentionIncomplete, run_retention
    from hub.audit.key_stores import key_store_for
    from hub.audit.keys import KeyStoreUnavailable
    from hub.contracts.codec import Codec
    from hub.contracts.registry import SchemaRegistry
    from hub.runtime.clock import clock_from
    from hub.runtime.config_files import ConfigError

    settings = current_settings()
    now = clock_from(settings.clock_start, settings.clock_anchor, settings.clock_speed)()
    codec = Codec(
        SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
    )
    try:
        run = asyncio.run(
            run_retention(settings, codec, key_store_for(settings), now, dry_run=dry_run)
        )
    except KeyStoreUnavailable as exc:
        raise fail(f"magasin de clés indisponible : {exc}", CHECK_FAILED) from None
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except RetentionIncomplete as exc:
        raise fail(f"rien n'a été détruit : {exc}", CHECK_FAILED) from None
    except ValueError as exc:  # the hub's signing key cannot be read
        raise fail(f"impossible de signer au nom du hub : {exc}") from None
    if as_json:
        document = {
            "now": run.now.isoformat(),
            "period_days": run.period_days,
            "cases": run.cases,
            "dry_run": dry_run,
            "due": [
                {"case_id": str(d.case_id), "closed_at": d.closed_at.isoformat()} for d in run.due
            ],
            "shredded": [
                {"case_id": str(s.due.case_id), "seq": s.seq, "key_destroyed": s.key_destroyed}
                for s in run.shredded
            ],
            "skipped": [str(d.case_id) for d in run.skipped],
            "finished": [str(case_id) for case_id in run.finished],
        }
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    out.print(
        f"calendrier de conservation : données personnelles détruites {run.period_days} jours "
        f"après la clôture (horloge du hub : {run.now:%Y-%m-%d %H:%M} UTC)",
        highlight=False,
        soft_wrap=True,
    )
    done = {s.due.case_id: s for s in run.shredded}
    skipped = {d.case_id for d in run.skipped}
    for due in run.due:
        shredded = done.get(due.case_id)
        if shredded:
            what = f"expiré, clé détruite, entrée ERASED n° {shredded.seq}"
        elif due.case_id in skipped:
            what = "clé absente de ce magasin de clés : rien n'est détruit ni enregistré"
        else:
            what = "à expirer (simulation : rien n'est détruit)"
        out.print(
            f"dossier {due.case_id} clos le {due.closed_at:%Y-%m-%d} : {what}",
            highlight=False,
            soft_wrap=True,
        )
    for case_id in run.finished:
        out.print(
            f"dossier {case_id} : expiration déjà enregistrée, clé détruite maintenant",
            highlight=False,
            soft_wrap=True,
        )
    out.print(
        f"{run.cases} dossier(s) examiné(s), {len(run.due)} arrivé(s) à échéance, "
        f"{len(run.shredded)} expiré(s)",
        highlight=False,
    )
