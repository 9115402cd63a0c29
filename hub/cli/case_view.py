"""What `hub case show` tells about one case: its state, open requests with their deadlines,
the reflection period, a minor's parents-informed step, and who holds the next action.

Text for operators: French, times in Europe/Paris with their zone (``paris_time``); JSON
keeps UTC ISO 8601 instants for scripts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from hub.cli.operator_output import operator_listing, paris_time
from hub.flow.case_state import CaseState


def _shown(iso: str) -> str:
    return paris_time(datetime.fromisoformat(iso))


def _at(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def case_summary(state: CaseState, now: datetime) -> dict[str, Any]:
    """The case as JSON-able data."""
    deadlines = sorted(state.open_deadlines(), key=lambda d: d.due_at)
    waiting = [d for d in deadlines if d.message_type != "reflection_period_end"]
    return {
        "case_id": str(state.case_id),
        "status": state.status.value,
        "departement": state.facts.departement,
        "minor": state.facts.minor,
        "reflection_period": None
        if state.reflection_ends is None
        else {
            "ends": state.reflection_ends.isoformat(),
            "days_left": max(0, (state.reflection_ends - now).days),
        },
        "parents_informed": None
        if state.parents is None
        else {
            "status": "PENDING"
            if state.parents.pending
            else ("INFORMED" if state.parents.informed else "NOT_INFORMED"),
            "since": state.parents.opened_at.isoformat(),
            "closed_by": state.parents.closed_by,
        },
        "pathway": {
            "reasonable_grounds_at": _at(state.pathway.grounds_at),
            "identified_at": _at(state.pathway.identified_at),
            "rights_information_recorded": len(state.pathway.informed),
            "choice_recorded": state.pathway.choice_event_id is not None,
            "permit_declined": state.pathway.permit_declined,
            "assistance_notice_ends": _at(state.pathway.assistance_notice_ends),
        },
        "open_requests": [
            {
                "request_id": str(d.request_id),
                "what": d.message_type.removeprefix("fr.nrm."),
                "recipient": d.recipient_agency,
                "role": d.recipient_role.value,
                "due": d.due_at.isoformat(),
                "overdue": d.is_overdue(now),
                "ladder_step": d.last_step.value if d.last_step else None,
            }
            for d in deadlines
        ],
        "held_messages": [
            {
                "what": h.subject.removeprefix("fr.nrm."),
                "for": h.recipient,
                "missing_consent": sorted(c.value for c in h.missing),
                "held_since": h.held_at.isoformat(),
            }
            for h in state.holds
        ],
        "next_action": (
            {
                "agency": waiting[0].recipient_agency,
                "what": waiting[0].message_type,
                "due": waiting[0].due_at.isoformat(),
            }
            if waiting
            else None
        ),
    }


def render_case(state: CaseState, now: datetime, *, width: int = 80) -> Group:
    """The case for people: a header, open requests (whole ids, for a console of ``width``
    columns), held messages."""
    summary = case_summary(state, now)
    lines = [
        Text(
            f"Dossier {summary['case_id']} — {summary['status']}"
            f" (département {summary['departement'] or '?'}"
            f"{', mineur' if summary['minor'] else ''})",
            style="bold",
        )
    ]
    if summary["reflection_period"]:
        period = summary["reflection_period"]
        lines.append(
            Text(
                f"Délai de réflexion jusqu'au {_shown(period['ends'])} "
                f"({period['days_left']} j restants)"
            )
        )
    if summary["parents_informed"]:
        step = summary["parents_informed"]
        said = {
            "PENDING": "information des parents à confirmer (CASF L226-2-1)",
            "INFORMED": f"parents informés (selon {step['closed_by']})",
            "NOT_INFORMED": f"parents non informés, motif consigné (selon {step['closed_by']})",
        }
        lines.append(Text(f"Mineur : {said[step['status']]}"))
    if summary["next_action"]:
        action = summary["next_action"]
        lines.append(
            Text(
                f"Prochaine action : {action['agency']} "
                f"({action['what'].removeprefix('fr.nrm.')}) avant {_shown(action['due'])}"
            )
        )
    requests = operator_listing(
        "Demandes ouvertes",
        ["demande", "objet", "destinataire", "échéance", "en retard", "palier"],
        [
            [
                row["request_id"],
                row["what"],
                row["recipient"],
                _shown(row["due"]),
                "oui" if row["overdue"] else "non",
                row["ladder_step"] or "—",
            ]
            for row in summary["open_requests"]
        ],
        ids=["demande"],
        width=width,
    )
    held = Table(title="Messages retenus (consentement manquant)")
    for column in ("message", "pour", "catégories manquantes", "depuis"):
        held.add_column(column)
    for row in summary["held_messages"]:
        held.add_row(
            row["what"],
            row["for"],
            ", ".join(row["missing_consent"]),
            _shown(row["held_since"]),
        )
    return Group(*lines, requests, held)
