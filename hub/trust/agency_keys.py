"""Private signing keys on disk: reading and writing the Ed25519 PEM files agencies sign with.

The hub itself only ever holds public agency keys (in the directory). Private keys are needed
by whoever publishes as an agency: the Python client, the simulated agencies of the demo and
the tests, and ``hub keys generate``. They are PKCS#8 PEM files, unencrypted, mode 0600; the
demo's keys live in ``deploy/config/dev-keys/<agency id>.pem`` (see the README there: they
are public, demo-only keys).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.runtime.operator_reasons import os_reason

DEV_KEYS_DIR = "dev-keys"
"""Folder of ``config_dir`` holding the demo's private keys, one ``<agency id>.pem`` each."""

PRIVATE_KEY_MODE = 0o600


class KeyFileError(ValueError):
    """A private key file that cannot be read, is not PEM, or is not an Ed25519 key."""


def dev_key_path(config_dir: Path, agency_id: str) -> Path:
    """Where the demo private key of ``agency_id`` (or ``hub``) lives under ``config_dir``."""
    if not agency_id or "/" in agency_id or agency_id.startswith("."):
        raise KeyFileError(f"pas un identifiant d'organisme : {agency_id!r}")
    return config_dir / DEV_KEYS_DIR / f"{agency_id}.pem"


def private_key_from_pem(data: bytes, *, source: str = "PEM data") -> Ed25519PrivateKey:
    """Parse an unencrypted PKCS#8 PEM Ed25519 private key (KeyFileError otherwise)."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        # TypeError: the PEM is encrypted and no password was given.
        raise KeyFileError(f"{source} : pas une clé privée PEM non chiffrée ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{source} : pas une clé Ed25519 ({type(key).__name__})")
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read an agency's (or the hub's) Ed25519 private key from a PEM file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path} : illisible, {os_reason(exc)}") from None
    return private_key_from_pem(data, source=str(path))


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """``key`` as unencrypted PKCS#8 PEM, the format ``load_private_key`` reads."""
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def write_private_key(path: Path, key: Ed25519PrivateKey, *, overwrite: bool = False) -> None:
    """Write ``key`` to ``path`` as PEM, readable by its owner only (0600).

    Refuses (FileExistsError) to replace an existing file unless ``overwrite``: losing a
    private key means re-keying the agency in the directory. The file is created with mode
    0600 from the start (never world-readable, even for an instant), and replaced atomically.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} existe : une clé privée n'est pas écrasée")
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_KEY_MODE)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(private_key_pem(key))
        os.chmod(temporary, PRIVATE_KEY_MODE)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
