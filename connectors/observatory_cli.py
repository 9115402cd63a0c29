"""``hub observatory export``: the anonymised aggregates for the observatory, as CSV and on
``nrm.observatory``.

Mounted by ``connectors/commands.py``. A bad date or threshold prints a clear message and exits
with 2; a broker that cannot be read exits with 1.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from connectors.observatory import DEFAULT_THRESHOLD
from connectors.observatory_export import Period, export
from hub.cli.context import current_settings, fail

observatory_app = typer.Typer(
    no_args_is_help=True, help="Anonymised aggregates for the observatory (CNCDH Rec. 7)."
)


@observatory_app.callback()
def observatory() -> None:
    """Anonymised aggregates for the observatory (CNCDH Rec. 7)."""


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option} must be a date like 2026-11-01, not {text!r}") from None


@observatory_app.command("export")
def export_command(
    since: Annotated[
        str | None, typer.Option(help="First day of the period (cases opened from it).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Day after the period (excluded).")] = None,
    threshold: Annotated[
        int, typer.Option(help="Cells under this count are suppressed.")
    ] = DEFAULT_THRESHOLD,
    csv_path: Annotated[
        Path | None,
        typer.Option("--csv", help="CSV file to write (default: observatory-<period>.csv)."),
    ] = None,
    publish: Annotated[
        bool, typer.Option(help="Also write the records to nrm.observatory.")
    ] = True,
) -> None:
    """Aggregate the cases the hub has routed, suppress small cells, write CSV and the topic."""
    period = Period(_day(since, "--since"), _day(until, "--until"))
    if period.since and period.until and period.since >= period.until:
        raise fail("--since must be before --until")
    if threshold < 2:
        raise fail("--threshold must be at least 2 (1 would publish single cases)")
    settings = current_settings()
    path = csv_path or settings.data_dir / f"observatory-{period.label.replace('..', '_')}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    # A broker that cannot be reached or refuses is said in one line by the app
    # (hub/cli/context.py's OperatorGroup).
    summary = asyncio.run(
        export(settings, period, threshold=threshold, csv_path=path, publish_records=publish)
    )
    typer.echo(json.dumps(asdict(summary), ensure_ascii=False))
