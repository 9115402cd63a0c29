"""``hub keys``: create and inspect the Ed25519 key pairs agencies (and the hub) sign with.

Mounted by ``hub/cli/app.py`` as ``app.add_typer(keys_app, name="keys")``. Exit codes follow the
main CLI: 2 when the input is invalid (bad agency id, unreadable or non-Ed25519 PEM), 1 when a
check fails (the key file already exists).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.cli.context import fail
from hub.cli.operator_output import YES_HELP, confirm
from hub.runtime.operator_reasons import os_reason
from hub.trust.agency_keys import KeyFileError, load_private_key, write_private_key
from hub.trust.directory_authority import AUTHORITY_ID, AUTHORITY_PUBLIC_KEY_FILE
from hub.trust.hub_keys import HUB_PUBLIC_KEY_FILE
from hub.trust.operator_actions import OPERATOR_ACTIONS_PUBLIC_KEY_FILE
from hub.trust.signing import public_key_b64

BAD_INPUT = 2
CHECK_FAILED = 1
AGENCY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")  # hub.rules.directory.AgencyId

keys_app = typer.Typer(
    no_args_is_help=True, help="Les clés de signature Ed25519 des organismes et du hub."
)


def _fail(message: str, code: int) -> typer.Exit:
    return fail(message, code)


def default_key_id(agency_id: str) -> str:
    """``<agency>-<year>-1``: the first key of the year (bump the suffix for the next key)."""
    return f"{agency_id}-{datetime.now(UTC).year}-1"


HUB_OWN_KEYS = {
    "hub": HUB_PUBLIC_KEY_FILE,
    AUTHORITY_ID: AUTHORITY_PUBLIC_KEY_FILE,
    "operator-actions": OPERATOR_ACTIONS_PUBLIC_KEY_FILE,
}
"""Keys that are not an agency's: their public half goes in a file of the configuration
folder, never in directory.yaml."""


def directory_snippet(key_id: str, public_key: str) -> str:
    """The lines to add under the agency in ``deploy/config/directory.yaml``."""
    return f'    signing_keys:\n      - {{key_id: "{key_id}", public_key: "{public_key}"}}\n'


@keys_app.command("generate")
def generate(
    agency_id: Annotated[
        str, typer.Argument(help="Identifiant d'organisme (ou 'hub') ; nomme le fichier.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Dossier où écrire AGENCY_ID.pem.")],
    key_id: Annotated[
        str | None,
        typer.Option(help="Identifiant de clé pour l'annuaire ; par défaut AGENCY_ID-ANNÉE-1."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Remplacer un fichier de clé existant.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help=YES_HELP)] = False,
) -> None:
    """Générer une paire de clés : la clé privée dans OUT/AGENCY_ID.pem (mode 0600), la clé
    publique et les lignes de directory.yaml qui la déclarent à l'écran."""
    if not AGENCY_ID.fullmatch(agency_id):
        raise _fail(
            f"« {agency_id} » n'est pas un identifiant d'organisme (minuscules, chiffres, tirets)",
            BAD_INPUT,
        )
    chosen_key_id = key_id or default_key_id(agency_id)
    if not 1 <= len(chosen_key_id.encode()) <= 64:
        raise _fail("l'identifiant de clé doit faire de 1 à 64 octets", BAD_INPUT)
    path = out / f"{agency_id}.pem"
    if force and path.exists():
        confirm(f"Remplacer la clé privée {path} (l'ancienne sera perdue)", yes=yes)
    private_key = Ed25519PrivateKey.generate()
    try:
        write_private_key(path, private_key, overwrite=force)
    except FileExistsError as exc:
        raise _fail(f"{exc} (--force pour le remplacer)", CHECK_FAILED) from None
    except OSError as exc:
        raise _fail(f"impossible d'écrire {path} : {os_reason(exc)}", BAD_INPUT) from None
    public_key = public_key_b64(private_key)
    typer.echo(f"clé privée : {path} (0600 ; à garder secrète)")
    typer.echo(f"clé publique : {public_key}")
    typer.echo(f"id de clé :    {chosen_key_id}")
    own_file = HUB_OWN_KEYS.get(agency_id)
    if own_file is not None:
        typer.echo(f"\nclé publique à écrire dans {own_file} du dossier de configuration.")
        return
    typer.echo(f"\nà ajouter sous '- id: {agency_id}' dans deploy/config/directory.yaml :\n")
    typer.echo(directory_snippet(chosen_key_id, public_key), nl=False)


@keys_app.command("show-public")
def show_public(
    pem: Annotated[Path, typer.Argument(help="Fichier PEM d'une clé privée Ed25519.")],
) -> None:
    """Afficher la clé publique base64 d'un fichier de clé privée (public_key de l'annuaire)."""
    try:
        private_key = load_private_key(pem)
    except KeyFileError as exc:
        raise _fail(str(exc), BAD_INPUT) from None
    typer.echo(public_key_b64(private_key))
