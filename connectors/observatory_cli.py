"""``hub observatory export``: the anonymised aggregates for the observatory, as CSV and on
``nrm.observatory``.

Mounted by ``connectors/commands.py``. A bad date or threshold prints a clear message and exits
with 2; a broker that cannot be read exits with 1.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from connectors.observatory_export import export
from hub.cli.context import current_settings, fail, run_on_broker
from hub.rules.case_facts import Period
from hub.rules.disclosure import DEFAULT_THRESHOLD

observatory_app = typer.Typer(
    no_args_is_help=True,
    help="Agrégats anonymisés pour l'observatoire (recommandation 7 de la CNCDH).",
)


@observatory_app.callback()
def observatory() -> None:
    """Agrégats anonymisés pour l'observatoire (recommandation 7 de la CNCDH)."""


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option} doit être une date comme 2026-11-01, pas « {text} »") from None


@observatory_app.command("export")
def export_command(
    since: Annotated[
        str | None,
        typer.Option(help="Premier jour de la période (dossiers ouverts à partir de ce jour)."),
    ] = None,
    until: Annotated[str | None, typer.Option(help="Lendemain de la période (exclu).")] = None,
    threshold: Annotated[
        int, typer.Option(help="Les cases sous ce compte sont masquées.")
    ] = DEFAULT_THRESHOLD,
    csv_path: Annotated[
        Path | None,
        typer.Option("--csv", help="Fichier CSV à écrire (par défaut observatory-<période>.csv)."),
    ] = None,
    publish: Annotated[
        bool, typer.Option(help="Écrire aussi les enregistrements sur nrm.observatory.")
    ] = True,
) -> None:
    """Agréger les dossiers routés par le hub, masquer les petites cases, écrire le CSV et le
    topic."""
    period = Period(_day(since, "--since"), _day(until, "--until"))
    if period.since and period.until and period.since >= period.until:
        raise fail("--since doit précéder --until")
    if threshold < 2:
        raise fail("--threshold vaut au moins 2 (1 publierait des dossiers isolés)")
    settings = current_settings()
    path = csv_path or settings.data_dir / f"observatory-{period.label.replace('..', '_')}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    # A broker that cannot be reached or refuses is said in one line by the app
    # (hub/cli/context.py's OperatorGroup).
    summary = run_on_broker(
        export(settings, period, threshold=threshold, csv_path=path, publish_records=publish)
    )
    typer.echo(json.dumps(asdict(summary), ensure_ascii=False))
