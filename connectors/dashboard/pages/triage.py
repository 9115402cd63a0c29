"""Reports from the public (``/signalements``): the triage body's queue and its decisions.

Operators with ``TRIAGE_REPORTS`` (hub/rules/roles.py) read the reports the designated triage
body received and act for it (``connectors/dashboard/triage_queue.py``): take up, ask for
more, forward to the competent authorities as a ``PresumedVictimReport``, or close with a
reason. The triage deadline and its escalation are the hub's (deadlines.yaml): the page shows
when the answer is due. docs/WITNESS_REPORTS.md.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from connectors.dashboard import french, views
from connectors.dashboard.access import require
from connectors.dashboard.context import (
    CurrentDashboard,
    Dashboard,
    DataSession,
    PageSession,
    read_form,
)
from connectors.dashboard.sessions import Session, csrf_matches
from connectors.dashboard.triage_queue import (
    CLOSE_REASONS,
    MAX_NOTE_CHARS,
    CloseReason,
    QueuedReport,
    TriageDesk,
)
from connectors.public_report.texts import DEPARTEMENT_NAMES, FORMS
from hub.contracts.enums import AckStatus, ExploitationType, Urgency
from hub.rules.roles import Permission

router = APIRouter()

STATES = {
    None: "à prendre en charge",
    AckStatus.ACCEPTED: "pris en charge",
    AckStatus.NEEDS_INFORMATION: "informations demandées au témoin",
    AckStatus.COMPLETED: "traité",
}


def desk_of(request: Request) -> TriageDesk:
    """The triage body's desk; 404 when this hub has none configured."""
    desk: TriageDesk | None = request.app.state.triage
    if desk is None:
        raise HTTPException(404, "aucun organisme de tri des signalements n'est configuré")
    return desk


def _row(dashboard: Dashboard, item: QueuedReport) -> dict[str, Any]:
    state = next((s for s in dashboard.model.states if s.case_id == item.case_id), None)
    due = [d.due_at for d in state.open_deadlines()] if state is not None else []
    report = item.report
    return {
        "case_id": str(item.case_id),
        "case_short": views.short(item.case_id),
        "received_text": french.format_datetime(item.received_at),
        "departement": report.departement,
        "departement_name": DEPARTEMENT_NAMES.get(report.departement, ""),
        "danger": report.immediate_danger,
        "minor": report.minor_suspected,
        "forms": [FORMS[t]["fr"] for t in report.exploitation_types if t in FORMS],
        "state": STATES.get(item.answers[-1] if item.answers else None, "traité"),
        "done": item.done,
        "due_text": french.format_datetime(min(due)) if due else None,
        "forwarded_case": str(item.forwarded_case) if item.forwarded_case else None,
        "closed_with": item.closed_with,
    }


async def _item(request: Request, case_id: str) -> QueuedReport:
    try:
        wanted = uuid.UUID(case_id)
    except ValueError:
        raise HTTPException(404, "signalement inconnu") from None
    found = next((q for q in await desk_of(request).queue() if q.case_id == wanted), None)
    if found is None:
        raise HTTPException(404, "signalement inconnu")
    return found


@router.get("/signalements", response_class=HTMLResponse)
async def triage_queue(
    request: Request, session: PageSession, dashboard: CurrentDashboard
) -> Response:
    await require(dashboard, session, Permission.TRIAGE_REPORTS)
    rows = [_row(dashboard, q) for q in await desk_of(request).queue()]
    context = {
        "open": [r for r in rows if not r["done"]],
        "done": [r for r in rows if r["done"]],
        "active": "signalements",
    }
    return dashboard.render(request, "triage.html", context, session=session)


@router.get("/signalements/{case_id}", response_class=HTMLResponse)
async def triage_case(
    request: Request, case_id: str, session: PageSession, dashboard: CurrentDashboard
) -> Response:
    await require(dashboard, session, Permission.TRIAGE_REPORTS)
    item = await _item(request, case_id)
    context = {
        **_row(dashboard, item),
        "report": item.report,
        "additions": item.additions,
        "departements": DEPARTEMENT_NAMES,
        "all_forms": {t.value: labels["fr"] for t, labels in FORMS.items()},
        "chosen_forms": {t.value for t in item.report.exploitation_types},
        "close_reasons": {r.value: text for r, text in CLOSE_REASONS.items()},
        "note_chars": MAX_NOTE_CHARS,
        "active": "signalements",
    }
    return dashboard.render(request, "triage_case.html", context, session=session)


async def _checked(request: Request, session: Session, dashboard: Dashboard) -> dict[str, str]:
    form = await read_form(request)
    if not csrf_matches(session, form.get("csrf")):
        raise HTTPException(403, "jeton CSRF invalide")
    await require(dashboard, session, Permission.TRIAGE_REPORTS)
    return form


@router.post("/signalements/{case_id}/decision")
async def triage_decision(
    request: Request, case_id: str, session: DataSession, dashboard: CurrentDashboard
) -> Response:
    form = await _checked(request, session, dashboard)
    item = await _item(request, case_id)
    if item.done:
        raise HTTPException(409, "signalement déjà traité")
    desk, decision = desk_of(request), form.get("decision")
    if decision == "prendre":
        await desk.answer(item, AckStatus.ACCEPTED, f"pris en charge par {session.operator_id}")
    elif decision == "demander":
        await desk.answer(item, AckStatus.NEEDS_INFORMATION, "informations demandées au témoin")
    elif decision == "transmettre":
        departement = form.get("departement", "")
        if departement not in DEPARTEMENT_NAMES:
            raise HTTPException(400, "département inconnu")
        try:
            urgency = Urgency(form.get("urgence", ""))
            types = [ExploitationType(v) for k, v in form.items() if k.startswith("forme_")]
        except ValueError:
            raise HTTPException(400, "urgence ou forme d'exploitation inconnue") from None
        await desk.forward(
            item,
            departement=departement,
            urgency=urgency,
            types=types,
            minor=form.get("mineur") == "oui",
            note=(form.get("note") or "").strip() or None,
            operator=session.operator_id,
        )
    elif decision == "clore":
        try:
            reason = CloseReason(form.get("motif", ""))
        except ValueError:
            raise HTTPException(400, "motif de clôture inconnu") from None
        await desk.close(item, reason, session.operator_id)
    else:
        raise HTTPException(400, "décision inconnue")
    return RedirectResponse(f"/signalements/{item.case_id}", status_code=303)
