"""The coordination committee's monitoring page (``/suivi``): the figures of
``hub monitoring report`` for a period (``?depuis=2026-11-01&jusqu_au=2026-12-01``, the second
day excluded; by default the last 12 weeks), with their charts and numbers.

National coordination and auditors see it (``VIEW_MONITORING``): national figures, suppressed
as the observatory's. The figures are read from the topics on demand and kept
``CACHE_SECONDS`` per period, so reloading the page does not re-read the broker.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date, timedelta
from typing import Final

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from connectors.dashboard.access import require
from connectors.dashboard.context import CurrentDashboard, Dashboard, PageSession
from connectors.monitoring.report import Section, can_draw, sections, summary
from connectors.monitoring.source import read_figures
from hub.rules.case_facts import Period
from hub.rules.disclosure import DEFAULT_THRESHOLD
from hub.rules.monitoring import Figures
from hub.rules.roles import Permission

router = APIRouter()

CACHE_SECONDS: Final = 60.0
DEFAULT_WEEKS: Final = 12
MAX_DAYS: Final = 3 * 366
"""Longest period the page reads (hub policy: the page answers in seconds, not minutes)."""


class FigureCache:
    """The last period's figures and drawn sections, for ``CACHE_SECONDS`` (drawing the eight
    charts takes about two seconds here); one read at a time."""

    def __init__(self) -> None:
        self._kept: dict[Period, tuple[float, Figures, list[Section]]] = {}
        self._lock = asyncio.Lock()

    async def get(self, dashboard: Dashboard, period: Period) -> tuple[Figures, list[Section]]:
        async with self._lock:
            kept = self._kept.get(period)
            if kept is not None and time.monotonic() - kept[0] < CACHE_SECONDS:
                return kept[1], kept[2]
            figures = await read_figures(dashboard.settings, period, DEFAULT_THRESHOLD)
            parts = await asyncio.to_thread(sections, figures, draw=can_draw())
            self._kept = {period: (time.monotonic(), figures, parts)}
            return figures, parts


def period_of(request: Request, today: date) -> Period:
    """The asked period, or the last ``DEFAULT_WEEKS`` weeks up to today; 400 in French when
    the dates are not dates, not in order, or too far apart."""
    since_text = request.query_params.get("depuis")
    until_text = request.query_params.get("jusqu_au")
    try:
        until = date.fromisoformat(until_text) if until_text else today + timedelta(days=1)
        since = (
            date.fromisoformat(since_text) if since_text else until - timedelta(weeks=DEFAULT_WEEKS)
        )
    except ValueError:
        raise HTTPException(400, "dates attendues au format 2026-11-01") from None
    if since >= until:
        raise HTTPException(400, "le début de la période doit précéder sa fin")
    if (until - since).days > MAX_DAYS:
        raise HTTPException(400, f"période de {MAX_DAYS} jours au plus")
    return Period(since, until)


@router.get("/suivi", response_class=HTMLResponse)
async def monitoring(
    request: Request, session: PageSession, dashboard: CurrentDashboard
) -> Response:
    await require(dashboard, session, Permission.VIEW_MONITORING)
    period = period_of(request, dashboard.clock().date())
    cache = getattr(request.app.state, "monitoring_cache", None)
    if cache is None:
        cache = request.app.state.monitoring_cache = FigureCache()
    figures, parts = await cache.get(dashboard, period)
    assert period.since is not None
    assert period.until is not None
    context = {
        **summary(figures),
        "sections": parts,
        "draw": all(part.png is not None for part in parts),
        "since": period.since.isoformat(),
        "until": period.until.isoformat(),
    }
    return dashboard.render(request, "monitoring.html", context, session=session)
