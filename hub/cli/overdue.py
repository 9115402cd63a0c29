"""``hub overdue``: the requests whose answer is late, as a table or as JSON.

Pure rendering: the command gathers the open deadlines (from the workers' state) and the
clock, ``hub.rules.deadlines.open_deadline.overdue`` selects them, this module renders them.
The table is for operators: French, full ids (folded, never cut), times in Europe/Paris with
their zone, where national coordination works. JSON gives UTC ISO 8601 instants and
``late_by_seconds`` for scripts.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from rich.console import Console

from hub.cli.operator_output import operator_listing, paris_time
from hub.contracts.enums import AgencyRole, NeedKind, Urgency
from hub.rules.deadlines.open_deadline import OpenDeadline, overdue
from hub.rules.deadlines.policy import (
    CONCLUSIVE_DECISION,
    PARENTS_INFORMED,
    REFLECTION_PERIOD_END,
)

TABLE_WIDTH = 170


NEEDS = {
    NeedKind.IDENTIFICATION: "identification",
    NeedKind.ACCOMMODATION: "hébergement",
    NeedKind.SUPPORT: "accompagnement",
    NeedKind.PERMIT: "titre de séjour",
    NeedKind.TRIAGE: "tri d'un signalement du public",
    NeedKind.UNKNOWN: "besoin inconnu",
}
URGENCIES = {
    Urgency.ROUTINE: "ordinaire",
    Urgency.URGENT: "urgent",
    Urgency.IMMEDIATE_DANGER: "danger immédiat",
    Urgency.UNKNOWN: "urgence inconnue",
}


def format_late_by(late_by: timedelta) -> str:
    """A short human duration: ``3 j 4 h``, ``2 h 05 min``, ``12 min``."""
    minutes = int(late_by.total_seconds()) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} j {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def _what(deadline: OpenDeadline) -> str:
    what = NEEDS.get(deadline.need, deadline.need.value.lower())
    if deadline.message_type == REFLECTION_PERIOD_END:
        what = "fin du délai de réflexion"
    elif deadline.message_type == CONCLUSIVE_DECISION:
        what = "décision d'identification définitive"
    elif deadline.message_type == PARENTS_INFORMED:
        what = "information des parents"
    tags = [URGENCIES.get(deadline.urgency, deadline.urgency.value.lower())]
    tags += ["mineur"] if deadline.minor else []
    return f"{what} ({', '.join(tags)})"


def _step(deadline: OpenDeadline) -> str:
    step = deadline.last_step.value if deadline.last_step is not None else "—"
    return f"{step} (orphelin)" if deadline.exhausted else step


def _record(deadline: OpenDeadline, now: datetime) -> dict[str, Any]:
    next_at = deadline.next_at
    last = deadline.last_step
    return {
        "deadline_id": str(deadline.deadline_id),
        "case_id": str(deadline.case_id),
        "request_id": str(deadline.request_id),
        "recipient_agency": deadline.recipient_agency,
        "recipient_role": deadline.recipient_role.value,
        "message_type": deadline.message_type,
        "need": deadline.need.value,
        "departement": deadline.departement,
        "minor": deadline.minor,
        "urgency": deadline.urgency.value,
        "attempt": deadline.attempt,
        "due_at": deadline.due_at.isoformat(),
        "late_by_seconds": int(deadline.late_by(now).total_seconds()),
        "ladder_step": None if last is None else last.value,
        "next_step": None if deadline.exhausted else deadline.steps[deadline.next_step].value,
        "next_step_at": None if next_at is None else next_at.isoformat(),
        "orphaned": deadline.exhausted,
    }


def render_overdue(
    deadlines: Iterable[OpenDeadline],
    now: datetime,
    *,
    agency: str | None = None,
    role: AgencyRole | str | None = None,
    departement: str | None = None,
    as_json: bool = False,
    width: int = TABLE_WIDTH,
) -> str:
    """The overdue requests at ``now`` as a French table (case, recipient, what, due, late
    by, ladder step) of ``width`` columns or, with ``as_json``, a JSON array; filters by
    recipient agency, role and département. An unknown role raises ValueError."""
    rows = overdue(deadlines, now, agency=agency, role=role, departement=departement)
    if as_json:
        return json.dumps([_record(d, now) for d in rows], indent=2, ensure_ascii=False)
    if not rows:
        return "Aucune demande en retard.\n"
    listing = operator_listing(
        f"Demandes en retard au {paris_time(now)}",
        ["dossier", "destinataire", "rôle", "dép.", "objet", "échéance", "retard", "palier"],
        [
            [
                str(d.case_id),
                d.recipient_agency,
                d.recipient_role.value,
                d.departement,
                _what(d),
                paris_time(d.due_at),
                format_late_by(d.late_by(now)),
                _step(d),
            ]
            for d in rows
        ],
        ids=["dossier"],
        width=width,
    )
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(listing)
    return buffer.getvalue()
