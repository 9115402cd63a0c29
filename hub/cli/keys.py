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

from hub.trust.agency_keys import KeyFileError, load_private_key, write_private_key
from hub.trust.signing import public_key_b64

BAD_INPUT = 2
CHECK_FAILED = 1
AGENCY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")  # hub.rules.directory.AgencyId

keys_app = typer.Typer(
    no_args_is_help=True, help="Ed25519 signing keys of agencies and of the hub."
)


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def default_key_id(agency_id: str) -> str:
    """``<agency>-<year>-1``: the first key of the year (bump the suffix for the next key)."""
    return f"{agency_id}-{datetime.now(UTC).year}-1"


def directory_snippet(key_id: str, public_key: str) -> str:
    """The lines to add under the agency in ``deploy/config/directory.yaml``."""
    return f'    signing_keys:\n      - {{key_id: "{key_id}", public_key: "{public_key}"}}\n'


@keys_app.command("generate")
def generate(
    agency_id: Annotated[str, typer.Argument(help="Agency id (or 'hub'); names the file.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write AGENCY_ID.pem into.")],
    key_id: Annotated[
        str | None, typer.Option(help="Key id for the directory; default AGENCY_ID-YEAR-1.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing key file.")] = False,
) -> None:
    """Generate a key pair: write the private key to OUT/AGENCY_ID.pem (mode 0600) and print
    the public key and the directory.yaml lines that declare it."""
    if not AGENCY_ID.fullmatch(agency_id):
        raise _fail(
            f"not an agency id: {agency_id!r} (lowercase letters, digits, dashes)", BAD_INPUT
        )
    chosen_key_id = key_id or default_key_id(agency_id)
    if not 1 <= len(chosen_key_id.encode()) <= 64:
        raise _fail("key id must be 1 to 64 bytes", BAD_INPUT)
    path = out / f"{agency_id}.pem"
    private_key = Ed25519PrivateKey.generate()
    try:
        write_private_key(path, private_key, overwrite=force)
    except FileExistsError as exc:
        raise _fail(f"{exc} (use --force to replace it)", CHECK_FAILED) from None
    except OSError as exc:
        raise _fail(f"cannot write {path}: {exc.strerror}", BAD_INPUT) from None
    public_key = public_key_b64(private_key)
    typer.echo(f"private key: {path} (0600; keep it secret)")
    typer.echo(f"public key:  {public_key}")
    typer.echo(f"key id:      {chosen_key_id}")
    typer.echo(f"\nadd under '- id: {agency_id}' in deploy/config/directory.yaml:\n")
    typer.echo(directory_snippet(chosen_key_id, public_key), nl=False)


@keys_app.command("show-public")
def show_public(
    pem: Annotated[Path, typer.Argument(help="PEM file of an Ed25519 private key.")],
) -> None:
    """Print the base64 public key of a private key file (the directory's public_key)."""
    try:
        private_key = load_private_key(pem)
    except KeyFileError as exc:
        raise _fail(str(exc), BAD_INPUT) from None
    typer.echo(public_key_b64(private_key))
