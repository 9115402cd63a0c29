"""The audit trail for people: a case's timeline, the data-subject report and the verification
verdict, in French for operators (machine values such as actions, roles and problem kinds are
printed as they are stored, so they read the same as in ``--json``).

What they show is computed in ``hub/audit/replay.py`` and ``hub/audit/verify.py``; this wing only
draws it. Times are the broker's, in UTC, and every column says so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hub.audit.log_record import Position
from hub.audit.replay import LeftOut, PayloadState, TimelineRow
from hub.audit.subject_report import BasisKind, SubjectReport
from hub.audit.verify import Problem, VerificationReport
from hub.contracts.enums import AgencyRole, LawfulBasis

LAWFUL_BASIS_LABELS = {
    LawfulBasis.UNKNOWN: "base inconnue",
    LawfulBasis.GDPR_6_1_A_CONSENT: "RGPD 6(1)(a) consentement",
    LawfulBasis.GDPR_9_2_A_EXPLICIT_CONSENT: "RGPD 9(2)(a) consentement explicite (santé)",
    LawfulBasis.GDPR_6_1_C_LEGAL_OBLIGATION: "RGPD 6(1)(c) obligation légale",
    LawfulBasis.GDPR_6_1_D_VITAL_INTEREST: "RGPD 6(1)(d) intérêts vitaux",
    LawfulBasis.GDPR_6_1_E_PUBLIC_TASK: "RGPD 6(1)(e) mission d'intérêt public",
    LawfulBasis.GDPR_9_2_G_SUBSTANTIAL_PUBLIC_INTEREST: "RGPD 9(2)(g) intérêt public important",
    LawfulBasis.GDPR_10_OFFENCE_DATA: (
        "RGPD art. 10 données d'infraction sous le contrôle de l'autorité publique"
    ),
    LawfulBasis.LED_2016_680: "directive 2016/680 (destinataire répressif)",
}
"""How the report names each lawful basis for operators (docs/LAW.md §7)."""
BASIS_KINDS = {BasisKind.CONSENT: "consentement", BasisKind.LEGAL_EXCEPTION: "exception légale"}
PAYLOAD_STATES = {PayloadState.ERASED: "EFFACÉES", PayloadState.UNREADABLE: "ILLISIBLES"}
UTC_SECONDS = "%Y-%m-%d %H:%M:%S"


def _where(position: Position | None) -> str:
    if position is None:
        return "hors du journal"
    if position.partition is not None and position.offset is not None:
        return f"partition {position.partition} offset {position.offset}"
    return f"index {position.index}"


def describe_problem(problem: Problem) -> str:
    """One line for operators: kind (as in the JSON), case, entry number, position, detail."""
    seq = f" entrée {problem.seq}" if problem.seq is not None else ""
    return (
        f"{problem.kind.value} : dossier {problem.case_id or '?'}{seq} "
        f"({_where(problem.position)}) : {problem.detail}"
    )


def render_verification(out: Console, err: Console, report: VerificationReport) -> None:
    """Each problem on standard error, then the verdict on standard output."""
    for problem in report.problems:
        err.print(f"[bold red]{describe_problem(problem)}[/]", highlight=False)
    verdict = (
        "[bold green]OK[/]" if report.ok else f"[bold red]{len(report.problems)} problème(s)[/]"
    )
    out.print(
        f"vérifié : {report.records} entrée(s) de {report.cases} dossier(s), "
        f"{report.proven} signée(s) par le hub, "
        f"{len(report.duplicates)} doublon(s) sans conséquence : {verdict}",
        highlight=False,
    )


def render_left_out(console: Console, left_out: Sequence[LeftOut]) -> None:
    """One line per stored entry left out because the hub did not sign it."""
    for item in left_out:
        console.print(
            f"[bold red]écartée : dossier {item.case_id} entrée {item.seq} "
            f"({_where(item.position)}) non signée par le hub ({item.detail})[/]",
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
    seen_as = f" vu par {role.value}" if role else ""
    table = Table(title=f"Dossier {case_id}{seen_as} : {len(rows)} entrée(s)", show_lines=False)
    for column in ("n°", "enregistrée (UTC)", "acteur", "action", "décision / motif"):
        table.add_column(column, no_wrap=column in ("n°", "action"))
    for column in ("base légale", "destinataire", "catégories", "données personnelles"):
        table.add_column(column)
    for row in rows:
        if row.payload_state in (PayloadState.ERASED, PayloadState.UNREADABLE):
            data = Text(PAYLOAD_STATES[row.payload_state], style="bold red")
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
    table = Table(title=f"Données communiquées sur le dossier {report.case_id}")
    for column in ("quand (UTC)", "action", "destinataire", "catégories", "fondement", "base RGPD"):
        table.add_column(column)
    for d in report.disclosures:
        basis = d.legal_basis or "aucun enregistré"
        table.add_row(
            d.recorded_at.strftime(UTC_SECONDS),
            d.action.value,
            d.recipient,
            ", ".join(c.tag for c in d.categories) or "—",
            f"{BASIS_KINDS.get(d.basis_kind, 'AUCUN')} : {basis}",
            "; ".join(LAWFUL_BASIS_LABELS[b] for b in d.lawful_bases) or "non enregistrée",
        )
    console.print(table)
    summary = Table(title="Par destinataire")
    for column in (
        "destinataire",
        "catégories",
        "première (UTC)",
        "dernière (UTC)",
        "fois",
        "fondements",
    ):
        summary.add_column(column)
    for s in report.recipients:
        summary.add_row(
            s.recipient,
            ", ".join(c.tag for c in s.categories) or "—",
            s.first_at.strftime(UTC_SECONDS),
            s.last_at.strftime(UTC_SECONDS),
            str(s.disclosures),
            ", ".join(s.bases),
        )
    console.print(summary)
    if report.notices:
        notices = Table(title="Avis envoyés (aucune donnée personnelle communiquée)")
        for column in ("quand (UTC)", "action", "destinataire", "avis", "concernant"):
            notices.add_column(column)
        for n in report.notices:
            notices.add_row(
                n.recorded_at.strftime(UTC_SECONDS),
                n.action.value,
                n.recipient,
                " / ".join(v for v in (n.what, n.reason) if v) or "—",
                ", ".join(c.tag for c in n.concerns) or "—",
            )
        console.print(notices)
    render_left_out(console, report.left_out)
    if report.erased_at:
        console.print(
            f"données personnelles effacées le {report.erased_at:%Y-%m-%d %H:%M:%S} UTC "
            "(la trace des communications est conservée)"
        )
