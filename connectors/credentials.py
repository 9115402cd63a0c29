"""Secrets stored as salted slow hashes, checked in constant time: agency tokens and passwords.

One stored form, ``<algorithm>$<cost parameters>$<salt b64url>$<hash b64url>``, one parser and
one constant-time check, with the key derivation chosen by what is hashed:

- gateway token secrets (``gateway_tokens.yaml``): ``pbkdf2_sha256$<iterations>$<salt>$<hash>``.
  The secret is 32 random bytes, so the slow hash only defends a leaked file; the gateway
  caches verified tokens, so a busy agency pays the derivation once.
- operator passwords (``operators.yaml``): ``scrypt$<n>$<r>$<p>$<salt>$<hash>``. People choose
  passwords: a memory-hard hash makes each guess against a leaked file cost 16 MiB and tens of
  milliseconds.

Each reader accepts only its own algorithm, so an agency's token hash can never stand in for an
operator's password hash, nor the other way round.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from base64 import urlsafe_b64decode, urlsafe_b64encode
from binascii import Error as Base64Error
from typing import Final

SALT_BYTES: Final = 16
HASH_BYTES: Final = 32

TOKEN_ALGORITHM: Final = "pbkdf2_sha256"  # noqa: S105 - an algorithm name, not a secret
TOKEN_ITERATIONS: Final = 100_000
"""~23 ms per check here: far above what guessing a 256-bit secret would need, cheap once
cached."""

PASSWORD_ALGORITHM: Final = "scrypt"  # noqa: S105 - an algorithm name, not a secret
SCRYPT_N: Final = 2**14
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
_SCRYPT_MAX_MEMORY: Final = 64 * 1024 * 1024


def b64(data: bytes) -> str:
    """``data`` as unpadded base64url (the stored hashes' and the tokens' alphabet)."""
    return urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _stored(algorithm: str, costs: tuple[int, ...], salt: bytes, digest: bytes) -> str:
    return "$".join((algorithm, *map(str, costs), b64(salt), b64(digest)))


def _split(stored: str, algorithm: str, shape: str, costs: int) -> tuple[list[int], bytes, bytes]:
    """(cost parameters, salt, digest) of ``stored``; ValueError naming ``shape`` when it is
    not one of ``algorithm``'s hashes."""
    parts = stored.split("$")
    if (
        len(parts) != costs + 3
        or parts[0] != algorithm
        or not all(x.isdigit() for x in parts[1 : costs + 1])
    ):
        raise ValueError(f"pas de la forme {shape}")
    try:
        salt, digest = _unb64(parts[-2]), _unb64(parts[-1])
    except (Base64Error, ValueError):
        raise ValueError("sel ou empreinte hors base64url") from None
    return [int(x) for x in parts[1 : costs + 1]], salt, digest


# ------------------------------------------------------------------ gateway tokens (PBKDF2)


def _pbkdf2(secret: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, iterations)


def hash_token_secret(
    secret: str, *, salt: bytes | None = None, iterations: int = TOKEN_ITERATIONS
) -> str:
    """The stored form of a token secret: ``pbkdf2_sha256$<iterations>$<salt>$<hash>``."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    return _stored(TOKEN_ALGORITHM, (iterations,), salt, _pbkdf2(secret, salt, iterations))


def parse_token_hash(stored: str) -> tuple[int, bytes, bytes]:
    """(iterations, salt, digest) of a stored token hash; ValueError when it is malformed."""
    shape = f"{TOKEN_ALGORITHM}$<iterations>$<salt>$<hash>"
    (iterations,), salt, digest = _split(stored, TOKEN_ALGORITHM, shape, costs=1)
    if iterations < 10_000 or len(salt) < 8 or len(digest) != HASH_BYTES:
        raise ValueError("trop peu d'itérations, ou sel ou empreinte de mauvaise taille")
    return iterations, salt, digest


def token_secret_matches(secret: str, stored: str) -> bool:
    """True when ``secret`` hashes to ``stored`` (constant-time comparison)."""
    iterations, salt, expected = parse_token_hash(stored)
    return hmac.compare_digest(_pbkdf2(secret, salt, iterations), expected)


# ------------------------------------------------------------------ operator passwords (scrypt)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAX_MEMORY, dklen=HASH_BYTES
    )


def hash_password(
    password: str,
    *,
    salt: bytes | None = None,
    n: int = SCRYPT_N,
    r: int = SCRYPT_R,
    p: int = SCRYPT_P,
) -> str:
    """The stored form of a password: ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (random salt)."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    return _stored(PASSWORD_ALGORITHM, (n, r, p), salt, _scrypt(password, salt, n, r, p))


def parse_password_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    """(n, r, p, salt, hash) of a stored password hash; ValueError when it is malformed or
    too weak."""
    shape = f"{PASSWORD_ALGORITHM}$<n>$<r>$<p>$<salt>$<hash>"
    (n, r, p), salt, digest = _split(stored, PASSWORD_ALGORITHM, shape, costs=3)
    if n < 2**14 or n & (n - 1) or r < 8 or p < 1:
        raise ValueError(
            "coût scrypt trop faible : n doit être une puissance de deux >= 16384, r >= 8"
        )
    if len(salt) < SALT_BYTES or len(digest) != HASH_BYTES:
        raise ValueError("sel de moins de 16 octets, ou empreinte qui ne fait pas 32 octets")
    return n, r, p, salt, digest


def password_matches(password: str, stored: str) -> bool:
    """True when ``password`` hashes to ``stored`` (constant-time comparison)."""
    n, r, p, salt, expected = parse_password_hash(stored)
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), expected)
