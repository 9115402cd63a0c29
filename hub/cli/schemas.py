"""``hub schemas``, ``hub decode``, ``hub encode``: the Avro contracts, their evolution, and
framed records to and from JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hub.cli.context import CHECK_FAILED, current_settings, err, fail, out, validation_reasons
from hub.cli.operator_output import emit_json
from hub.runtime.operator_reasons import os_reason
from hub.runtime.settings import HubSettings

if TYPE_CHECKING:
    from hub.contracts.codec import CodecError
    from hub.contracts.compatibility import Incompatibility

schemas_app = typer.Typer(no_args_is_help=True, help="Les contrats Avro et leur évolution.")


def _registry_root(settings: HubSettings) -> Path:
    return settings.schemas_dir


@schemas_app.command("list")
def schemas_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON au lieu de texte.")] = False,
) -> None:
    """Afficher chaque schéma enregistré (id, sujet, version)."""
    from hub.contracts.registry import SchemaRegistry

    registry = SchemaRegistry.load(_registry_root(current_settings()))
    if as_json:
        emit_json(
            [
                {"schema_id": r.schema_id, "subject": r.subject, "version": r.version}
                for r in registry
            ]
        )
        return
    for registered in registry:
        out.print(
            f"{registered.schema_id:4}  {registered.subject}  v{registered.version}",
            highlight=False,
        )


@schemas_app.command("check")
def schemas_check(
    schemas_dir: Annotated[Path | None, typer.Option(help="Par défaut HUB_SCHEMAS_DIR.")] = None,
) -> None:
    """Échouer si un schéma source n'est pas BACKWARD_TRANSITIVE avec chaque version gardée.

    Les changements compatibles pas encore enregistrés sont listés et font aussi échouer la
    vérification : les ids doivent être commités (lancez ``hub schemas register``).
    """
    from hub.contracts.registry import SchemaRegistry

    root = schemas_dir or _registry_root(current_settings())
    changes = SchemaRegistry.load(root).pending_changes(_known_subjects(root))
    for change in changes:
        if change.compatible:
            err.print(
                f"[yellow]non enregistré[/] {change.subject} : changement compatible, "
                f"lancez `hub schemas register` pour le figer en v{change.next_version}",
                highlight=False,
            )
        for problem in change.incompatibilities:
            err.print(
                f"[bold red]incompatible[/] {change.subject} : {_unreadable(problem)}",
                highlight=False,
            )
    if any(not c.compatible for c in changes):
        raise fail(
            "un changement de schéma casse la compatibilité BACKWARD_TRANSITIVE", CHECK_FAILED
        )
    if changes:
        raise fail("des changements compatibles ne sont pas encore enregistrés", CHECK_FAILED)
    out.print("schémas : chaque sujet correspond à sa dernière version enregistrée")


@schemas_app.command("register")
def schemas_register(
    subject: Annotated[list[str] | None, typer.Argument(help="Sujets ; par défaut : tous.")] = None,
    schemas_dir: Annotated[Path | None, typer.Option(help="Par défaut HUB_SCHEMAS_DIR.")] = None,
) -> None:
    """Figer les sujets nouveaux ou changés sous de nouveaux ids (refuse l'incompatible)."""
    from hub.contracts.registry import SOURCES, SchemaRegistry, UnknownSchemaError, register

    root = schemas_dir or _registry_root(current_settings())
    subjects = subject or _known_subjects(root)
    for name in subjects:
        if not (root / SOURCES / f"{name}.avsc").is_file():
            raise fail(
                f"aucun fichier source pour le sujet {name} : {root / SOURCES / name}.avsc "
                "n'existe pas",
                CHECK_FAILED,
            )
    try:
        changes = SchemaRegistry.load(root).pending_changes(subjects)
    except UnknownSchemaError as exc:  # a source that is not a named record
        raise fail(f"schéma source refusé : {exc}", CHECK_FAILED) from None
    refused = [f"{c.subject} : {_unreadable(p)}" for c in changes for p in c.incompatibilities]
    if refused:
        raise fail(
            f"rien n'est enregistré, changement incompatible : {'; '.join(refused)}", CHECK_FAILED
        )
    created = register(root, changes)
    for registered in created:
        out.print(
            f"enregistré : {registered.subject} v{registered.version}, id {registered.schema_id}",
            highlight=False,
        )
    if not created:
        out.print("rien à enregistrer")


def _unreadable(problem: Incompatibility) -> str:
    """An incompatibility for the operator: which version the new schema cannot read, where,
    and avro's machine kinds (its English sentences stay out)."""
    where = ", ".join(problem.locations) or "/"
    return (
        f"ne lit plus la version {problem.against_version} en {where} : {', '.join(problem.kinds)}"
    )


def codec_refusal(exc: CodecError) -> str:
    """A codec's refusal for the operator: its machine code and what it means, in French (the
    codec's English detail is the dead letter's, for developers)."""
    from hub.flow.refusal_notice import WHAT_IT_MEANS

    return f"{exc.reason.value} : {WHAT_IT_MEANS.get(exc.reason, 'refusé')}"


def _known_subjects(root: Path) -> list[str]:
    """Registered subjects plus every event subject the hub's models declare."""
    from hub.contracts.events import EVENT_MODELS
    from hub.contracts.registry import SchemaRegistry

    return sorted(set(SchemaRegistry.load(root).subjects()) | set(EVENT_MODELS))


def decode(
    path: Annotated[
        str, typer.Argument(help="Fichier d'un enregistrement tramé, ou - pour l'entrée standard.")
    ],
) -> None:
    """Décoder un enregistrement Avro tramé Confluent et l'afficher en JSON."""
    from hub.contracts.codec import Codec, CodecError
    from hub.contracts.registry import SchemaRegistry

    settings = current_settings()
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise fail(f"impossible de lire {path} : {os_reason(exc)}") from None
    codec = Codec(
        SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
    )
    try:
        decoded = codec.decode(data)
    except CodecError as exc:
        raise fail(codec_refusal(exc)) from None
    out.print_json(
        json.dumps(
            {"schema_id": decoded.schema_id, "subject": decoded.subject, "record": decoded.record},
            default=_json_default,
        )
    )


def encode(
    subject: Annotated[str, typer.Argument(help="Sujet, ex. fr.nrm.ReferralOpened.")],
    path: Annotated[
        str, typer.Argument(help="Fichier JSON de l'événement, ou - pour l'entrée standard.")
    ],
    output: Annotated[Path, typer.Option("--out", "-o", help="Où écrire la trame.")],
) -> None:
    """Valider un événement JSON (modèle et schéma) et écrire l'enregistrement tramé."""
    from pydantic import ValidationError

    from hub.contracts.codec import Codec, CodecError
    from hub.contracts.events import EVENT_MODELS
    from hub.contracts.registry import SchemaRegistry

    settings = current_settings()
    model = EVENT_MODELS.get(subject)
    if model is None:
        raise fail(f"sujet inconnu « {subject} » ; connus : {', '.join(sorted(EVENT_MODELS))}")
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        event = model.model_validate_json(text)
    except OSError as exc:
        raise fail(f"impossible de lire {path} : {os_reason(exc)}") from None
    except ValidationError as exc:
        raise fail(f"événement {subject} invalide : {validation_reasons(exc)}") from None
    codec = Codec(
        SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
    )
    try:
        output.write_bytes(codec.encode(subject, event.model_dump()))
    except CodecError as exc:
        raise fail(codec_refusal(exc)) from None
    out.print(f"écrit : {output}", highlight=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
