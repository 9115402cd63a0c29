"""``hub directory``: read and change the agency directory at runtime, every change signed by
the directory authority's private key.

Mounted by ``agents/commands.py``::

    hub directory show [AGENCY] [--json]
    hub directory set AGENCY_FILE              (one agency as YAML, directory.yaml's fields)
    hub directory add-key AGENCY KEY_ID PUBLIC_KEY
    hub directory revoke-key AGENCY KEY_ID
    hub directory rotate-authority KEY_ID PUBLIC_KEY

The changing commands take ``--authority-key PATH`` (default
``HUB_DIRECTORY_AUTHORITY_KEY_PATH``, the demo's dev key). A change is read back as a worker
would read it: ``show`` applies only what the authority proves. Exit 2 and one line on bad
input (unknown agency, malformed key, unreadable key file), 1 if the broker cannot be reached.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from hub.cli.context import current_settings, fail, out, run_on_broker
from hub.cli.operator_output import YES_HELP, confirm, emit_json

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from hub.contracts.codec import Codec
    from hub.contracts.hub_records import (
        DirectoryEntry,
    )
    from hub.rules.directory import Agency, SigningKey
    from hub.runtime.settings import HubSettings
    from hub.trust.directory_authority import SignedDirectory
    from hub.trust.signing import RecordSigner

T = TypeVar("T")

directory_app = typer.Typer(
    no_args_is_help=True, help="L'annuaire des organismes : le voir, le modifier (signé)."
)

AuthorityKey = Annotated[
    Path | None,
    typer.Option(
        "--authority-key",
        help="La clé privée de l'autorité de l'annuaire (PEM) ; par défaut "
        "HUB_DIRECTORY_AUTHORITY_KEY_PATH.",
    ),
]

Yes = Annotated[bool, typer.Option("--yes", "-y", help=YES_HELP)]


def _codec(settings: HubSettings) -> Codec:
    from hub.contracts.codec import Codec
    from hub.contracts.registry import SchemaRegistry

    return Codec(
        SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
    )


def _read(settings: HubSettings, codec: Codec) -> SignedDirectory:
    from agents.directory_follower import read_signed_directory
    from hub.runtime.config_files import ConfigError
    from hub.trust.directory_authority import AuthorityConfigError

    try:
        return _run(read_signed_directory(settings, codec))
    except (AuthorityConfigError, ConfigError) as exc:
        raise fail(str(exc)) from None


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; a broker that cannot be reached is said in one line by the app
    (hub/cli/context.py's OperatorGroup)."""
    return run_on_broker(coroutine)


def _private_key(settings: HubSettings, key_path: Path | None) -> Ed25519PrivateKey:
    from hub.trust.agency_keys import KeyFileError, load_private_key

    try:
        return load_private_key(key_path or settings.directory_authority_key_path)
    except KeyFileError as exc:
        raise fail(str(exc)) from None


def _signer(private_key: Ed25519PrivateKey, signed: SignedDirectory) -> RecordSigner:
    from hub.trust.directory_authority import authority_signer

    try:
        return authority_signer(private_key, signed.authority)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _agency(signed: SignedDirectory, agency_id: str) -> Agency:
    agency = signed.directory.get(agency_id)
    if agency is None:
        raise fail(f"« {agency_id} » n'est pas dans l'annuaire")
    return agency


def _publish(
    settings: HubSettings, codec: Codec, signer: RecordSigner, entry: DirectoryEntry
) -> None:
    from agents.io import clients
    from hub.contracts.topics import DIRECTORY
    from hub.trust.directory_authority import sign_directory_record

    value = codec.encode_event(entry)
    key, headers = sign_directory_record(signer, entry, value)

    async def send() -> None:
        producer = clients.producer(settings, request_timeout_ms=10_000)
        await producer.start()
        try:
            await producer.send_and_wait(DIRECTORY.name, value, key=key, headers=headers)
        finally:
            await producer.stop()

    _run(send())
    out.print(
        f"publié sur {DIRECTORY.name} : {key.decode()} (signé {signer.key_id})", highlight=False
    )


def _publish_agency(settings: HubSettings, signer: RecordSigner, agency: Agency) -> None:
    from hub.rules.directory import entry_from_agency

    _publish(settings, _codec(settings), signer, entry_from_agency(agency, datetime.now(UTC)))


@directory_app.command("show")
def show(
    agency: Annotated[str | None, typer.Argument(help="Seulement cet organisme.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON au lieu de texte.")] = False,
) -> None:
    """L'annuaire tel que le worker l'applique, les clés de l'autorité, les changements refusés."""
    settings = current_settings()
    signed = _read(settings, _codec(settings))
    agencies = [_agency(signed, agency)] if agency else sorted(signed.directory, key=lambda a: a.id)
    if as_json:
        body = {
            "authority_keys": [k.key_id for k in signed.authority.keys],
            "refused": {str(reason): count for reason, count in signed.refused.items()},
            "agencies": [a.model_dump(mode="json") for a in agencies],
        }
        emit_json(body)
        return
    out.print(
        f"clés de l'autorité : {', '.join(k.key_id for k in signed.authority.keys)}",
        highlight=False,
    )
    if signed.refused:
        refused = ", ".join(f"{reason}={count}" for reason, count in signed.refused.items())
        out.print(f"changements refusés sur le topic : {refused}", highlight=False)
    for a in agencies:
        keys = ", ".join(k.key_id for k in a.signing_keys) or "-"
        where = "national" if a.national else " ".join(a.departements) or "—"
        state = "accepte" if a.accepting else "fermé"
        out.print(f"{a.id}  {a.role.value}  {where}  {state}  clés : {keys}", highlight=False)


@directory_app.command("set")
def set_agency(
    agency_file: Annotated[
        Path, typer.Argument(help="Un organisme en YAML (les champs de directory.yaml).")
    ],
    authority_key: AuthorityKey = None,
    yes: Yes = False,
) -> None:
    """Ajouter ou remplacer un organisme (tous ses champs, clés comprises) ; remplacer un
    organisme existant demande confirmation."""
    from hub.rules.directory import Agency
    from hub.runtime.config_files import ConfigError, load_config

    settings = current_settings()
    try:
        agency = load_config(agency_file, Agency)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    private_key = _private_key(settings, authority_key)
    signed = _read(settings, _codec(settings))
    signer = _signer(private_key, signed)
    if signed.directory.get(agency.id) is not None:
        confirm(f"Remplacer l'organisme {agency.id} (tous ses champs, clés comprises)", yes=yes)
    _publish_agency(settings, signer, agency)


def _change_agency(
    agency: str,
    authority_key: Path | None,
    change: Callable[[Agency], Agency],
    *,
    question: str | None = None,
    yes: bool = False,
) -> None:
    """Read the directory as a worker would, apply ``change`` to one agency, and publish the
    result signed by the authority; a change the agency refuses is one line, exit 2. With a
    ``question``, the change is destructive: asked before publishing (``--yes`` skips)."""
    settings = current_settings()
    private_key = _private_key(settings, authority_key)
    signed = _read(settings, _codec(settings))
    signer = _signer(private_key, signed)
    try:
        changed = change(_agency(signed, agency))
    except ValueError as exc:
        raise fail(str(exc)) from None
    if question is not None:
        confirm(question, yes=yes)
    _publish_agency(settings, signer, changed)


@directory_app.command("add-key")
def add_key(
    agency: Annotated[str, typer.Argument(help="Identifiant de l'organisme.")],
    key_id: Annotated[
        str, typer.Argument(help="Identifiant de la nouvelle clé, ex. police-93-2027-1.")
    ],
    public_key: Annotated[str, typer.Argument(help="Clé publique Ed25519 brute, en base64.")],
    authority_key: AuthorityKey = None,
) -> None:
    """Ajouter une clé de signature à un organisme (rotation : ajouter la nouvelle, révoquer
    l'ancienne plus tard)."""
    from hub.trust.directory_changes import with_key

    new_key = _new_key(key_id, public_key)
    _change_agency(agency, authority_key, lambda entry: with_key(entry, new_key))


@directory_app.command("revoke-key")
def revoke_key(
    agency: Annotated[str, typer.Argument(help="Identifiant de l'organisme.")],
    key_id: Annotated[str, typer.Argument(help="La clé à révoquer.")],
    authority_key: AuthorityKey = None,
    yes: Yes = False,
) -> None:
    """Retirer une clé de signature : ce qu'elle signe devient lettre morte."""
    from hub.trust.directory_changes import without_key

    _change_agency(
        agency,
        authority_key,
        lambda entry: without_key(entry, key_id),
        question=f"Révoquer la clé {key_id} de {agency} : ce qu'elle signe deviendra lettre morte",
        yes=yes,
    )


@directory_app.command("rotate-authority")
def rotate_authority(
    key_id: Annotated[str, typer.Argument(help="Identifiant de la nouvelle clé d'autorité.")],
    public_key: Annotated[str, typer.Argument(help="Sa clé publique Ed25519 brute, en base64.")],
    authority_key: AuthorityKey = None,
    yes: Yes = False,
) -> None:
    """Passer l'autorité de l'annuaire à une nouvelle clé, signé par l'actuelle ; l'actuelle
    est retirée aussitôt."""
    from hub.trust.directory_changes import rotation_entry

    settings = current_settings()
    entry = rotation_entry(_new_key(key_id, public_key), datetime.now(UTC))
    private_key = _private_key(settings, authority_key)
    codec = _codec(settings)
    signer = _signer(private_key, _read(settings, codec))
    confirm(
        f"Passer l'autorité de l'annuaire à la clé {key_id} et retirer aussitôt la clé "
        f"actuelle {signer.key_id}",
        yes=yes,
    )
    _publish(settings, codec, signer, entry)


def _new_key(key_id: str, public_key: str) -> SigningKey:
    from pydantic import ValidationError

    from hub.rules.directory import SigningKey
    from hub.runtime.operator_reasons import field_reason
    from hub.trust.signing import public_key_from_b64

    try:
        public_key_from_b64(public_key)
        return SigningKey(key_id=key_id, public_key=public_key)
    except ValidationError as exc:
        raise fail(f"identifiant de clé : {field_reason(exc.errors()[0])}") from None
    except ValueError as exc:
        raise fail(str(exc)) from None
