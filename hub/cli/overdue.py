"""``hub overdue``: the requests whose answer is late, as a table or as JSON.

Pure rendering: the command gathers the open deadlines (from the workers' state) and the
clock, ``hub.rules.deadlines.open_deadline.overdue`` selects them, this module renders them.
Times in the table are shown in Europe/Paris, where national coordination works; JSON gives
UTC ISO 8601 instants and ``late_by_seconds`` for scripts.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from hub.contracts.enums import AgencyRole
from hub.rules.deadlines.open_deadline import OpenDeadline, overdue
from hub.rules.deadlines.policy import REFLECTION_PERIOD_END
from hub.rules.working_days import PARIS

TABLE_WIDTH = 170


def format_late_by(late_by: timedelta) -> str:
    """A short human duration: ``3 d 4 h``, ``2 h 05 min``, ``12 min``."""
    minutes = int(late_by.total_seconds()) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def _what(deadline: OpenDeadline) -> str:
    what = deadline.need.lower()
    if deadline.message_type == REFLECTION_PERIOD_END:
        what = "reflection period end"
    tags = [deadline.urgency.lower().replace("_", " ")] + (["minor"] if deadline.minor else [])
    return f"{what} ({', '.join(tags)})"


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
    """The overdue requests at ``now`` as a Rich table (case, recipient, what, due, late by,
    ladder step) of ``width`` columns or, with ``as_json``, a JSON array; filters by
    recipient agency, role and département. An unknown role raises ValueError."""
    rows = overdue(deadlines, now, agency=agency, role=role, departement=departement)
    if as_json:
        return json.dumps([_record(d, now) for d in rows], indent=2, ensure_ascii=False)
    if not rows:
        return "No overdue requests.\n"
    table = Table(title=f"Overdue requests at {now.astimezone(PARIS):%Y-%m-%d %H:%M %Z}")
    for column in ("case", "recipient", "role", "dép.", "what", "due", "late by", "ladder step"):
        # Long cells wrap rather than truncate: a narrow terminal must not hide who is late.
        one_line = column in ("case", "dép.", "due", "late by")
        table.add_column(column, no_wrap=one_line, overflow="ellipsis" if one_line else "fold")
    for d in rows:
        step = d.last_step.value if d.last_step is not None else "—"
        table.add_row(
            str(d.case_id)[:8],
            d.recipient_agency,
            d.recipient_role.value,
            d.departement,
            _what(d),
            f"{d.due_at.astimezone(PARIS):%Y-%m-%d %H:%M}",
            format_late_by(d.late_by(now)),
            f"{step} (orphaned)" if d.exhausted else step,
        )
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(table)
    return buffer.getvalue()
