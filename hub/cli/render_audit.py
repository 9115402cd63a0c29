"""The audit trail for people: a case's timeline and the data-subject report as Rich tables.

What they show is computed in ``hub/audit/replay.py``; this wing only draws it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hub.audit.replay import LeftOut, PayloadState, TimelineRow
from hub.audit.subject_report import LAWFUL_BASIS_LABELS, BasisKind, SubjectReport
from hub.contracts.enums import AgencyRole


def render_left_out(console: Console, left_out: Sequence[LeftOut]) -> None:
    """One line per stored entry left out because the hub did not sign it."""
    for item in left_out:
        console.print(
            f"[bold red]left out: case {item.case_id} seq {item.seq} at {item.position} "
            f"is not signed by the hub ({item.detail})[/]",
            highlight=False,
        )


def render_timeline(
    console: Console,
    case_id: UUID,
    rows: list[TimelineRow],
    *,
    role: AgencyRole | None = None,
    left_out: Sequence[LeftOut] = (),
) -> None:
    """Print a case's timeline as a Rich table, then the entries left out of it."""
    seen_as = f" as {role.value}" if role else ""
    table = Table(title=f"Case {case_id}{seen_as}: {len(rows)} entries", show_lines=False)
    for column in ("seq", "recorded at (UTC)", "actor", "action", "decision / reason"):
        table.add_column(column, no_wrap=column in ("seq", "action"))
    for column in ("legal basis", "recipient", "categories", "personal data"):
        table.add_column(column)
    for row in rows:
        if row.payload_state in (PayloadState.ERASED, PayloadState.UNREADABLE):
            data = Text(row.payload_state.value, style="bold red")
        elif row.payload:
            data = Text(json.dumps(row.payload, ensure_ascii=False, sort_keys=True))
        else:
            data = Text("—", style="dim")
        table.add_row(
            str(row.seq),
            row.recorded_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            f"{row.actor} ({row.actor_role.value})",
            row.action.value,
            " / ".join(v for v in (row.decision, row.reason) if v) or "—",
            row.legal_basis or "—",
            row.recipient or "—",
            ", ".join(c.tag for c in row.categories) or "—",
            data,
        )
    console.print(table)
    render_left_out(console, left_out)


def render_subject_report(console: Console, report: SubjectReport) -> None:
    """Print the data-subject report: one row per disclosure, then a summary per agency."""
    table = Table(title=f"Data shared about case {report.case_id}")
    for column in ("when (UTC)", "action", "recipient", "categories", "basis", "lawful basis"):
        table.add_column(column)
    for d in report.disclosures:
        basis = d.legal_basis or "none recorded"
        kind = {BasisKind.CONSENT: "consent", BasisKind.LEGAL_EXCEPTION: "legal exception"}
        table.add_row(
            d.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
            d.action.value,
            d.recipient,
            ", ".join(c.tag for c in d.categories) or "—",
            f"{kind.get(d.basis_kind, 'NONE')}: {basis}",
            "; ".join(LAWFUL_BASIS_LABELS[b] for b in d.lawful_bases) or "not recorded",
        )
    console.print(table)
    summary = Table(title="Per recipient")
    for column in ("recipient", "categories", "first", "last", "times", "bases"):
        summary.add_column(column)
    for s in report.recipients:
        summary.add_row(
            s.recipient,
            ", ".join(c.tag for c in s.categories) or "—",
            s.first_at.strftime("%Y-%m-%d %H:%M:%S"),
            s.last_at.strftime("%Y-%m-%d %H:%M:%S"),
            str(s.disclosures),
            ", ".join(s.bases),
        )
    console.print(summary)
    if report.notices:
        notices = Table(title="Notices sent (no personal data shared)")
        for column in ("when (UTC)", "action", "recipient", "notice", "about"):
            notices.add_column(column)
        for n in report.notices:
            notices.add_row(
                n.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
                n.action.value,
                n.recipient,
                " / ".join(v for v in (n.what, n.reason) if v) or "—",
                ", ".join(c.tag for c in n.concerns) or "—",
            )
        console.print(notices)
    render_left_out(console, report.left_out)
    if report.erased_at:
        console.print(
            f"personal data erased on {report.erased_at:%Y-%m-%d %H:%M:%S} UTC "
            "(the record of sharing is kept)"
        )
