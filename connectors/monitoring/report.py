"""The monitoring report: every figure as a section (title, definition, chart, table), written
as one self-contained HTML file (charts inlined as data URIs, CSS inline, no external asset)
with the same charts as PNG files beside it. The dashboard page renders the same sections."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from jinja2 import Environment, FileSystemLoader, select_autoescape

from connectors.monitoring.labels import DEFINITIONS, TITLES, count, decimal, row
from hub.rules.disclosure import PublishedTable
from hub.rules.monitoring import LATE, ON_TIME, UNANSWERED, Figures

HERE: Final = Path(__file__).resolve().parent
REPORT_FILE: Final = "suivi.html"
TIMELINES: Final = (
    "referrals_by_form",
    "referrals_by_departement",
    "needs",
    "holds",
    "permits",
)


@dataclass(frozen=True)
class Section:
    """One figure as shown: a chart (PNG) and its numbers (« masqué » where suppressed)."""

    name: str
    title: str
    definition: str
    png: bytes | None
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    @property
    def data_uri(self) -> str | None:
        """The chart inline (the dashboard's policy allows ``data:`` images)."""
        if self.png is None:
            return None
        return "data:image/png;base64," + base64.b64encode(self.png).decode()


def table_rows(table: PublishedTable) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """A suppressed table as French header and rows (totals last)."""
    header = ("", *(row(c) for c in table.cols))
    rows = tuple(
        (row(r), *(count(table.cells.get((r, c))) for c in table.cols)) for r in table.rows
    )
    return header, rows


def can_draw() -> bool:
    """Whether the charts' library (the ``charts`` extra) is installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def sections(figures: Figures, *, draw: bool = True) -> list[Section]:
    """Every figure of the report, in the committee's order (charts drawn when ``draw``)."""
    tables = figures.tables
    identification = tables["identification"]
    by_kind = tables["deadlines_by_agency_kind"]
    charts: dict[str, bytes] = {}
    if draw:
        from connectors.monitoring import charts as draw_

        for name in TIMELINES:
            charts[name] = draw_.timeline_chart(tables[name], figures.buckets)
        charts["identification"] = draw_.breakdown_chart(_transpose(identification), _statuses())
        charts["delays"] = draw_.delays_chart(figures.delays)
        charts[by_kind.name] = draw_.breakdown_chart(by_kind, (ON_TIME, LATE, UNANSWERED))
    out: list[Section] = []
    order = (*TIMELINES[:2], "identification", "delays", by_kind.name, *TIMELINES[2:])
    for name in order:
        png = charts.get(name)
        if name == "delays":
            header: tuple[str, ...] = ("", "Valeurs", "Médiane (j)", "90e centile (j)")
            rows: tuple[tuple[str, ...], ...] = tuple(
                (row(d.label), str(d.n), decimal(d.median_days), decimal(d.p90_days))
                for d in figures.delays
            )
        else:
            header, rows = table_rows(tables[name])
        out.append(Section(name, TITLES[name], DEFINITIONS[name], png, header, rows))
    return out


def _statuses() -> tuple[str, ...]:
    return ("IDENTIFIED", "NOT_IDENTIFIED", "PENDING")


def _transpose(table: PublishedTable) -> PublishedTable:
    """The identification table as one bar (rows become columns)."""
    cells = {(c, r): n for (r, c), n in table.cells.items()}
    return PublishedTable(table.name, table.cols, table.rows, cells)


def share_text(figures: Figures) -> str:
    """« 31,3 % des dossiers ouverts sont identifiés » or why it is not shown."""
    if figures.share_identified is None:
        return "Part des dossiers identifiés : masquée (petits effectifs)."
    percent = f"{figures.share_identified * 100:.1f}".replace(".", ",")
    return f"Part des dossiers ouverts dans la période qui sont identifiés : {percent} %."


def period_text(figures: Figures) -> str:
    """« du 2026-11-02 au 2026-11-15 inclus »."""
    since, until = figures.period.since, figures.period.until
    assert since is not None
    assert until is not None
    last = until.fromordinal(until.toordinal() - 1)
    return f"du {since.isoformat()} au {last.isoformat()} inclus"


def environment() -> Environment:
    """The report's templates (autoescaped)."""
    return Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
    )


def summary(figures: Figures) -> dict[str, object]:
    """What the report's and the page's header say."""
    return {
        "period": period_text(figures),
        "share": share_text(figures),
        "threshold": figures.threshold,
        "buckets": "semaines ISO" if "-W" in (figures.buckets or ("",))[0] else "mois",
        "now": figures.now.strftime("%Y-%m-%d %H:%M UTC"),
    }


def render_html(figures: Figures, parts: list[Section], written_at: datetime) -> str:
    """The self-contained HTML report."""
    template = environment().get_template("report.html")
    written = written_at.strftime("%Y-%m-%d %H:%M UTC")
    return template.render(sections=parts, written=written, **summary(figures))


def write_report(figures: Figures, out_dir: Path, written_at: datetime) -> list[Path]:
    """Write ``suivi.html`` and one PNG per chart into ``out_dir``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = sections(figures, draw=True)
    paths = []
    for part in parts:
        if part.png is not None:
            path = out_dir / f"{part.name}.png"
            path.write_bytes(part.png)
            paths.append(path)
    html = out_dir / REPORT_FILE
    html.write_text(render_html(figures, parts, written_at), encoding="utf-8")
    return [html, *paths]
