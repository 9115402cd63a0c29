"""Ed25519 through libsodium: the one way the hub signs and checks a signature.

Checks use libsodium (PyNaCl), whose verification is strict where OpenSSL's is not: it refuses
a public key or a signature's ``R`` of small order and non-canonical encodings. The difference
is a forgery: under OpenSSL the identity point as public key, with the signature
``R = identity, S = 0``, verifies *every* message, so an agency whose directory entry held
such a key could be impersonated by anyone (tests/unit/trust/test_ed25519.py). It is also
twice as fast (~54 against ~104 µs a check on the benchmark machine, docs/BENCHMARKS.md).

A public key is parsed once (``public_key``), refusing what is not a point of the curve's
main subgroup. Private keys are loaded by ``cryptography`` (PEM files, ``hub.trust.agency_keys``)
and turned once into libsodium's secret key (``secret_key``): Ed25519 is deterministic, so
its signatures are the very bytes ``cryptography`` makes (tests/unit/trust/test_ed25519.py),
in ~23 instead of ~34 µs.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from nacl.bindings import (
    crypto_core_ed25519_is_valid_point,
    crypto_sign,
    crypto_sign_open,
    crypto_sign_seed_keypair,
)
from nacl.exceptions import BadSignatureError

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


class SecretKey(bytes):
    """libsodium's 64-byte Ed25519 secret key (the seed, then the public key): only
    ``secret_key`` makes one. Never logged, never written: it lives as long as its signer."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SecretKey(…)"

    __str__ = __repr__


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


def secret_key(private: Ed25519PrivateKey) -> SecretKey:
    """``private`` as libsodium signs with it (once per signer, not per signature)."""
    _, secret = crypto_sign_seed_keypair(private.private_bytes_raw())
    return SecretKey(secret)


def sign(secret: SecretKey, message: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``message`` (RFC 8032: the same bytes for the same key
    and message, whichever library makes them)."""
    return crypto_sign(message, secret)[:SIGNATURE_SIZE]
