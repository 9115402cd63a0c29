"""The audit trail's commands: replay, verify, subject report, index (erasure is a workflow of
its own: ``agents/erasure_commands.py``).

Mounted by ``agents/commands.py`` with ``register_audit_commands(app)``::

    hub replay CASE [--as ROLE] [--json]
    hub subject-report CASE [--json]
    hub audit verify (CASE | --all) [--topic TOPIC] [--json]
    hub audit index [--follow]

Exit codes follow ``hub/cli/context.py``: 2 for bad input (malformed or unknown case, unknown role),
1 when a check fails (verification problems, broker unreachable). Settings come from
``ctx.obj`` when a caller supplies a ``HubSettings`` (tests), else from ``HUB_`` variables.
The index and the log readers are imported inside the commands, so ``hub --help`` stays quick.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from uuid import UUID

import structlog
import typer
from rich.console import Console

from hub.cli.context import broker_unreachable, run_on_broker
from hub.runtime.settings import HubSettings, get_settings

if TYPE_CHECKING:
    from hub.audit.keys import KeyStore
    from hub.audit.log_record import LogRecord
    from hub.audit.proof import ProofCheck
    from hub.audit.verify import VerificationReport
    from hub.contracts.codec import Codec

BAD_INPUT = 2
CHECK_FAILED = 1
CATCH_UP_TIMEOUT_S = 30.0
FETCH_TIMEOUT_S = 10.0

audit_app = typer.Typer(no_args_is_help=True, help="Vérifier et indexer la piste d'audit.")


def out() -> Console:
    """Standard output, as wide as the terminal (or ``COLUMNS``) is now, not at import."""
    return Console()


def err() -> Console:
    """Standard error, likewise."""
    return Console(stderr=True)


log = structlog.get_logger(__name__)
T = TypeVar("T")


def register_audit_commands(app: typer.Typer) -> None:
    """Add ``replay``, ``subject-report`` and the ``audit`` group to ``app``."""
    app.command("replay")(replay)
    app.command("subject-report")(subject_report_command)
    app.add_typer(audit_app, name="audit")


def _fail(message: str, code: int = BAD_INPUT) -> typer.Exit:
    err().print(f"[bold red]erreur :[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _key_store(settings: HubSettings) -> KeyStore:
    from hub.audit.key_stores import key_store_for
    from hub.audit.keys import KeyStoreUnavailable

    try:
        return key_store_for(settings)
    except KeyStoreUnavailable as exc:
        raise _fail(f"magasin de clés indisponible : {exc}", CHECK_FAILED) from None


def _settings(ctx: typer.Context) -> HubSettings:
    return ctx.obj if isinstance(ctx.obj, HubSettings) else get_settings()


def _case_id(text: str) -> UUID | str:
    """A whole case id, or a prefix resolved against the audit index once it is caught up
    (``hub.cli.operator_output``: exit 2 when malformed or ambiguous)."""
    from hub.cli.operator_output import CASE, parse_id

    return parse_id(text, CASE)


def _codec(settings: HubSettings) -> Codec:
    from hub.contracts.codec import Codec
    from hub.contracts.registry import SchemaRegistry

    return Codec(
        SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
    )


def _hub_proof(settings: HubSettings) -> ProofCheck:
    """The check that the hub signed each entry; its keys unreadable is bad input (exit 2)."""
    from agents.audit_index.hub_proof import hub_proof

    try:
        return hub_proof(settings)
    except ValueError as exc:
        raise _fail(str(exc)) from None


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; an unreadable audit log is a failed check, with a clear message."""
    from agents.io.audit_fetch import AuditLogUnavailable

    try:
        return run_on_broker(coroutine)
    except AuditLogUnavailable as exc:
        if broker_unreachable(exc):
            raise  # hub/cli/context.py's OperatorGroup says it in one line
        raise _fail(str(exc), CHECK_FAILED) from None


async def _case_records(
    settings: HubSettings, codec: Codec, wanted: UUID | str
) -> tuple[UUID, list[LogRecord], VerificationReport]:
    """Bring the index up to date, read the case's records, and verify them (chain and the
    hub's signature on each)."""
    from agents.audit_index.indexer import catch_up
    from agents.audit_index.reading import fetch_case_records
    from agents.audit_index.store import AuditIndex
    from hub.audit.verify import verify
    from hub.cli.operator_output import CASE, resolve_id

    prove = _hub_proof(settings)
    with AuditIndex.open(settings) as index:
        caught = await catch_up(settings, index, codec, timeout_s=CATCH_UP_TIMEOUT_S)
        if not caught.complete:
            err().print(
                "[yellow]attention :[/] l'index n'a pas atteint la fin du journal d'audit en "
                f"{CATCH_UP_TIMEOUT_S:.0f} s : les dernières entrées peuvent manquer "
                "(lancez `hub audit index`)",
                highlight=False,
            )
        case_id = wanted if isinstance(wanted, UUID) else resolve_id(wanted, index.cases(), CASE)
        records = await fetch_case_records(
            settings, index, case_id, codec, prove=prove, timeout_s=FETCH_TIMEOUT_S
        )
        head = index.head(case_id)
    report = verify(records, heads={case_id: head} if head else None)
    return case_id, records, report


def _load_case(
    ctx: typer.Context, case: str
) -> tuple[HubSettings, UUID, list[LogRecord], VerificationReport]:
    settings = _settings(ctx)
    case_id, records, report = _run(_case_records(settings, _codec(settings), _case_id(case)))
    if not records:
        raise _fail(f"dossier inconnu {case_id} : aucune entrée d'audit indexée")
    return settings, case_id, records, report


def _echo_json(document: Any) -> None:
    # Plain text, not Rich: a machine reads it, and Rich would wrap long strings.
    typer.echo(json.dumps(document, ensure_ascii=False, indent=2))


def _verification_json(report: VerificationReport) -> dict[str, Any]:
    from hub.cli.render_audit import describe_problem

    return {
        "ok": report.ok,
        "records": report.records,
        "signed_by_hub": report.proven,
        "cases": report.cases,
        "duplicates": len(report.duplicates),
        "problems": [
            {
                "kind": p.kind.value,
                "case_id": str(p.case_id) if p.case_id else None,
                "seq": p.seq,
                "partition": p.position.partition if p.position else None,
                "offset": p.position.offset if p.position else None,
                "index": p.position.index if p.position else None,
                "detail": p.detail,
                "message": describe_problem(p),
            }
            for p in report.problems
        ],
    }


def _print_verification(report: VerificationReport) -> None:
    from hub.cli.render_audit import render_verification

    render_verification(out(), err(), report)


# ------------------------------------------------------------------------- commands


def replay(
    ctx: typer.Context,
    case: Annotated[
        str, typer.Argument(help="Identifiant du dossier (uuid, ou un préfixe unique).")
    ],
    as_role: Annotated[
        str | None,
        typer.Option(
            "--as", help="Ne montrer que ce que ce rôle d'organisme peut voir (ex. prefecture)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Rejouer la piste d'audit d'un dossier dans l'ordre, données déchiffrées ou EFFACÉES."""
    from hub.audit.replay import AuditVisibility, left_out, redact, timeline, timeline_json
    from hub.cli.render_audit import render_timeline
    from hub.contracts.enums import AgencyRole
    from hub.rules.consent import ConsentPolicy

    role: AgencyRole | None = None
    if as_role is not None:
        try:
            role = AgencyRole(as_role.upper())
        except ValueError:
            known = ", ".join(r.value.lower() for r in AgencyRole if r is not AgencyRole.UNKNOWN)
            raise _fail(f"rôle inconnu {as_role!r} ; rôles connus : {known}") from None
    settings, case_id, records, report = _load_case(ctx, case)
    rows = timeline(records, _key_store(settings))
    if role is not None:
        try:
            visibility = AuditVisibility.from_policy(ConsentPolicy.load(settings.config_dir))
        except ValueError as exc:
            raise _fail(f"impossible de charger la politique de consentement : {exc}") from None
        rows = redact(rows, visibility.allowed(role))
    log.info("audit.replayed", case_id=str(case_id), role=role, entries=len(rows))
    if as_json:
        document = {
            "case_id": str(case_id),
            "as": role.value if role else None,
            "verification": _verification_json(report),
            "entries": timeline_json(rows),
        }
        _echo_json(document)
        return
    render_timeline(out(), case_id, rows, role=role, left_out=left_out(records))
    _print_verification(report)


def subject_report_command(
    ctx: typer.Context,
    case: Annotated[
        str, typer.Argument(help="Identifiant du dossier (uuid, ou un préfixe unique).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Quel organisme a reçu quelles données sur la personne, quand, sur quelle base."""
    from hub.audit.subject_report import subject_report, subject_report_json
    from hub.cli.render_audit import render_subject_report

    _, case_id, records, _ = _load_case(ctx, case)
    report = subject_report(case_id, records)
    if as_json:
        _echo_json(subject_report_json(report))
        return
    render_subject_report(out(), report)


@audit_app.command("verify")
def verify_command(
    ctx: typer.Context,
    case: Annotated[
        str | None, typer.Argument(help="Identifiant du dossier (uuid, ou un préfixe unique).")
    ] = None,
    all_cases: Annotated[bool, typer.Option("--all", help="Vérifier tous les dossiers.")] = False,
    topic: Annotated[str | None, typer.Option(help="Topic d'audit (avec --all).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Vérifier la signature du hub sur chaque entrée et recalculer les chaînes.

    Nomme chaque entrée non signée, rupture, trou, réordonnancement, fourche ; sortie 1 s'il y
    en a."""
    from agents.audit_index.reading import verify_topic
    from agents.audit_index.store import AuditIndex
    from hub.contracts.topics import AUDIT

    if (case is None) == (not all_cases):
        raise _fail("donnez soit un identifiant de dossier, soit --all")
    if topic is not None and not all_cases:
        raise _fail("--topic ne va qu'avec --all")
    settings = _settings(ctx)
    complete = True
    if case is not None:
        *_, report = _load_case(ctx, case)
    else:
        audit_topic = topic or AUDIT.name
        with AuditIndex.open(settings, audit_topic) as index:
            heads = index.heads()
        prove = _hub_proof(settings)
        report, complete = _run(
            verify_topic(settings, _codec(settings), topic=audit_topic, heads=heads, prove=prove)
        )
    if as_json:
        _echo_json({**_verification_json(report), "complete": complete})
    else:
        _print_verification(report)
    if not complete:
        err().print("[bold red]le journal n'a pas pu être lu jusqu'au bout à temps[/]")
    if not report.ok or not complete:
        raise typer.Exit(CHECK_FAILED)


@audit_app.command("index")
def index_command(
    ctx: typer.Context,
    follow: Annotated[bool, typer.Option(help="Continuer d'indexer jusqu'à Ctrl-C.")] = False,
) -> None:
    """Mettre l'index des dossiers à jour (``--follow`` : le tenir à jour)."""
    from agents.audit_index.indexer import catch_up, run_indexer
    from agents.audit_index.store import AuditIndex

    settings = _settings(ctx)
    codec = _codec(settings)

    async def once() -> int:
        with AuditIndex.open(settings) as index:
            done = await catch_up(settings, index, codec, timeout_s=CATCH_UP_TIMEOUT_S)
            return done.indexed

    async def forever() -> int:
        stop = asyncio.Event()
        with AuditIndex.open(settings) as index:
            try:
                return await run_indexer(settings, index, codec, stop)
            except asyncio.CancelledError:
                return 0

    try:
        indexed = _run(forever() if follow else once())
    except KeyboardInterrupt:
        indexed = 0
    out().print(f"{indexed} nouvelle(s) entrée(s) indexée(s)")
