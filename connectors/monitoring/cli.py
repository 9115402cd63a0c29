"""``hub monitoring report``: the coordination committee's figures for a period, as a
self-contained HTML file and PNG charts (docs/MONITORING.md).

Mounted by ``connectors/commands.py``. Bad input (a bad date, ``--since`` not before
``--until``, a threshold under 2, charts not installed) prints one French line and exits 2; a
broker that cannot be read exits 1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from connectors.observatory_cli import _day
from hub.cli.context import current_settings, fail, run_on_broker
from hub.rules.case_facts import Period
from hub.rules.disclosure import DEFAULT_THRESHOLD

monitoring_app = typer.Typer(
    no_args_is_help=True,
    help="Suivi du mécanisme pour le comité de coordination (recommandations 3 et 4 de la CNCDH).",
)


@monitoring_app.callback()
def monitoring() -> None:
    """Suivi du mécanisme pour le comité de coordination (recommandations 3 et 4 de la CNCDH)."""


@monitoring_app.command("report")
def report_command(
    since: Annotated[
        str | None, typer.Option(help="Premier jour de la période, comme 2026-11-01 (inclus).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Lendemain de la période, comme 2026-12-01 (exclu).")
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Dossier où écrire suivi.html et les graphiques PNG.")
    ] = Path("suivi"),
    threshold: Annotated[
        int, typer.Option(help="Les effectifs sous ce compte sont masqués.")
    ] = DEFAULT_THRESHOLD,
) -> None:
    """Écrire le rapport de suivi d'une période : une page HTML autonome et ses graphiques PNG."""
    first, last = _day(since, "--since"), _day(until, "--until")
    if first is None or last is None:  # required, said in French (not Click's English)
        raise fail("--since et --until sont obligatoires (--since 2026-11-01 --until 2026-12-01)")
    if first >= last:
        raise fail(f"--since ({first}) doit précéder --until ({last})")
    if threshold < 2:
        raise fail("--threshold vaut au moins 2 (1 publierait des dossiers isolés)")
    from connectors.monitoring import report

    if not report.can_draw():
        # a backslash keeps Rich from reading [charts] as markup
        raise fail("les graphiques demandent matplotlib : pip install 'nrm-hub\\[charts]'")
    from connectors.monitoring.source import read_figures

    settings = current_settings()
    figures = run_on_broker(read_figures(settings, Period(first, last), threshold))
    paths = report.write_report(figures, out, datetime.now(UTC))
    summary = {"report": str(paths[0]), "charts": [str(p) for p in paths[1:]]}
    typer.echo(json.dumps(summary, ensure_ascii=False))
