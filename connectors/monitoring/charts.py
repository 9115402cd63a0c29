"""The monitoring charts as PNG bytes (matplotlib's Agg canvas: no display, no pyplot state,
safe in a server thread). Why matplotlib: docs/MONITORING.md, "Charts".

Suppressed cells are never drawn as a value: a timeline leaves their bar out and marks the
bucket « masqué » under the axis; a delay shows « masqué » in place of its bar.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Final

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from connectors.monitoring.labels import SUPPRESSED, TITLES, decimal, row
from hub.rules.disclosure import TOTAL, PublishedTable
from hub.rules.monitoring import Delay

PALETTE: Final = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6", "#a5a5a5")
GREY: Final = "#9aa0a6"
DPI: Final = 110


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def _frame(title: str, width: float = 8.0, height: float = 3.6) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height))
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=11, fontweight="bold")
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#e6e6e6")
    axes.set_axisbelow(True)
    return figure, axes


def timeline_chart(table: PublishedTable, buckets: Sequence[str]) -> bytes:
    """Grouped bars: one colour per row, one group per week or month; the total as a line."""
    figure, axes = _frame(TITLES.get(table.name, table.name))
    rows = [r for r in table.rows if r != TOTAL]
    width = 0.8 / max(1, len(rows))
    xs = range(len(buckets))
    for n, name in enumerate(rows):
        values = [table.cells.get((name, b)) for b in buckets]
        shown = [(x, v) for x, v in zip(xs, values, strict=True) if v is not None]
        if not shown:
            continue  # every cell of the row is suppressed: no bar, no legend entry
        axes.bar(
            [x - 0.4 + width * (n + 0.5) for x, _ in shown],
            [v for _, v in shown],
            width=width,
            color=PALETTE[n % len(PALETTE)],
            label=row(name),
        )
    totals = [table.cells.get((TOTAL, b)) for b in buckets]
    if any(v is not None for v in totals):
        # a suppressed week is a gap in the line, never a slope drawn across it
        axes.plot(
            list(xs),
            [math.nan if v is None else v for v in totals],
            color="black",
            marker="o",
            linewidth=1.2,
            label="Total",
        )
    hidden = [
        x
        for x, b in zip(xs, buckets, strict=True)
        if all(table.cells.get((r, b)) is None for r in (*rows, TOTAL))
    ]
    for x in hidden:
        axes.annotate(
            SUPPRESSED,
            (x, 0),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color=GREY,
            rotation=90,
            va="bottom",
        )
    axes.set_xticks(list(xs), list(buckets), rotation=45 if len(buckets) > 8 else 0, fontsize=8)
    axes.set_xlim(-0.6, len(buckets) - 0.4)
    axes.set_ylabel("nombre")
    axes.set_ylim(bottom=0)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    _legend_or_note(axes)
    return _png(figure)


def _legend_or_note(axes: Axes) -> None:
    """The legend, or a note that every count is suppressed."""
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
        return
    axes.set_ylim(0, 1)
    axes.set_yticks([])
    axes.text(
        0.5,
        0.5,
        "Tous les effectifs sont masqués (petits effectifs)",
        transform=axes.transAxes,
        ha="center",
        va="center",
        color=GREY,
        fontsize=10,
    )


def breakdown_chart(table: PublishedTable, columns: Sequence[str]) -> bytes:
    """Horizontal stacked bars: one bar per row, one colour per column (totals left out)."""
    rows = [r for r in table.rows if r != TOTAL]
    figure, axes = _frame(TITLES.get(table.name, table.name), height=1.4 + 0.45 * len(rows))
    left = [0] * len(rows)
    for n, column in enumerate(columns):
        values = [table.cells.get((r, column)) or 0 for r in rows]
        axes.barh(
            [row(r) for r in rows],
            values,
            left=left,
            color=PALETTE[n % len(PALETTE)],
            label=row(column),
        )
        left = [a + b for a, b in zip(left, values, strict=True)]
    for y, r in enumerate(rows):
        if any(table.cells.get((r, c)) is None for c in columns):
            axes.annotate(
                f"{SUPPRESSED} (total : {_total(table, r)})",
                (left[y], y),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color=GREY,
            )
    axes.grid(axis="x", color="#e6e6e6")
    _legend_or_note(axes)
    return _png(figure)


def _total(table: PublishedTable, name: str) -> str:
    value = table.cells.get((name, TOTAL))
    return SUPPRESSED if value is None else str(value)


def delays_chart(delays: Sequence[Delay]) -> bytes:
    """One row per delay: the median as a bar, the 90th percentile as a tick; « masqué » when
    there are too few values."""
    figure, axes = _frame(TITLES["delays"], height=1.2 + 0.45 * len(delays))
    labels = [row(d.label) for d in delays]
    ys = range(len(delays))
    axes.barh(list(ys), [d.median_days or 0 for d in delays], color=PALETTE[0], label="médiane")
    p90 = [(y, d.p90_days) for y, d in zip(ys, delays, strict=True) if d.p90_days is not None]
    axes.scatter(
        [v for _, v in p90],
        [y for y, _ in p90],
        marker="|",
        s=300,
        color=PALETTE[1],
        label="90e centile",
        zorder=3,
    )
    for y, d in zip(ys, delays, strict=True):
        text = (
            f"{SUPPRESSED} ({d.n} valeur{'s' if d.n > 1 else ''})"
            if d.median_days is None
            else f"{decimal(d.median_days)} j · p90 {decimal(d.p90_days)} j · n = {d.n}"
        )
        axes.annotate(
            text,
            (max(d.median_days or 0, d.p90_days or 0), y),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color=GREY if d.median_days is None else "black",
        )
    axes.set_yticks(list(ys), labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("jours")
    axes.grid(axis="x", color="#e6e6e6")
    axes.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    right = max([1.0, *[(d.p90_days or 0) for d in delays]])
    axes.set_xlim(0, right * 1.6)
    return _png(figure)
