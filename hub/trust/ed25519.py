"""Ed25519 public keys and signature checks: the one way the hub verifies a signature.

Checks use libsodium (PyNaCl), whose verification is strict where OpenSSL's is not: it refuses
a public key or a signature's ``R`` of small order and non-canonical encodings. The difference
is a forgery: under OpenSSL the identity point as public key, with the signature
``R = identity, S = 0``, verifies *every* message, so an agency whose directory entry held
such a key could be impersonated by anyone (tests/unit/trust/test_ed25519.py). It is also
twice as fast (~54 against ~104 µs a check on the benchmark machine, docs/BENCHMARKS.md).

A public key is parsed once (``public_key``), refusing what is not a point of the curve's
main subgroup; signing stays with ``cryptography`` (PEM files, the HSM), whose signatures
libsodium verifies like any other.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.bindings import crypto_core_ed25519_is_valid_point, crypto_sign_open
from nacl.exceptions import BadSignatureError

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


class PublicKey(bytes):
    """The 32 raw bytes of an Ed25519 public key that is a valid point of prime order: only
    ``public_key`` makes one."""

    __slots__ = ()


def public_key(raw: bytes | Ed25519PublicKey) -> PublicKey:
    """``raw`` (32 bytes, or a ``cryptography`` key) as a key signatures can be checked with.

    ValueError (one French line, the operator's) when it is not 32 bytes or not a point of the
    curve's main subgroup: small-order points, among them the identity that verifies any
    message, and non-canonical encodings are refused.
    """
    if isinstance(raw, Ed25519PublicKey):
        raw = raw.public_bytes_raw()
    if len(raw) != PUBLIC_KEY_SIZE:
        raise ValueError(f"la clé publique fait {len(raw)} octets, pas {PUBLIC_KEY_SIZE}")
    if not crypto_core_ed25519_is_valid_point(raw):
        raise ValueError("la clé publique n'est pas un point valide d'Ed25519 (ordre faible)")
    return PublicKey(raw)


def verifies(key: PublicKey, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is ``key``'s Ed25519 signature of ``message`` (libsodium's
    strict check: a signature with a small-order ``R`` or a non-canonical ``S`` is refused)."""
    if len(signature) != SIGNATURE_SIZE:
        return False
    try:
        crypto_sign_open(signature + message, key)
    except BadSignatureError:
        return False
    return True
