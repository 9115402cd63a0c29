"""Cost of signed records on one core: Ed25519 alone, then the hub's sign and verify paths.

Prints JSON: operations/s and µs per record for a 700-byte record value
- ``ed25519_sign``: a bare libsodium signature of the canonical bytes (the hub's signers, with
  the secret key made once); ``ed25519_sign_openssl``: ``cryptography``'s, the same bytes;
- ``ed25519_verify``: the hub's check, libsodium's (``hub.trust.ed25519.verifies``), with a
  parsed key (the ceiling); ``ed25519_verify_openssl``: ``cryptography``'s, which the hub
  used until it was found to accept forgeries for small-order keys (docs/SIGNING.md);
- ``sign_record``: canonical bytes + signature + the three headers, as ``RecordSigner`` signs;
- ``verify_record``: the full ingest path: header parsing, key lookup in the directory entry,
  cached public key, canonical bytes, verification, time window.

    .venv/bin/python bench/signing.py [--records 5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime

import cryptography
import nacl
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.contracts.enums import AgencyRole
from hub.rules.directory import Agency, SigningKey
from hub.trust.ed25519 import secret_key, sign, verifies
from hub.trust.signing import (
    canonical_bytes,
    public_key_b64,
    public_key_from_b64,
    sign_record,
    to_ms,
)
from hub.trust.verification import RecordVerifier

VALUE_BYTES = 700


def rate(operation: Callable[[], None], count: int, repeat: int) -> float:
    """Best-of-``repeat`` operations per second for ``count`` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        operation()
        best = min(best, time.perf_counter() - start)
    return count / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as documented

    private_key = Ed25519PrivateKey.generate()
    public_key = private_key.public_key()
    agency = Agency(
        id="police-93",
        name="bench",
        role=AgencyRole.POLICE_GENDARMERIE,
        signing_keys=(
            SigningKey(key_id="police-93-2026-1", public_key=public_key_b64(private_key)),
        ),
    )
    now = datetime.now(UTC)
    stamp = to_ms(now)
    topic, key, value = "nrm.outbox.police-93", b"case-0001", os.urandom(VALUE_BYTES)
    message = canonical_bytes(topic, key, value, stamp)
    signature = private_key.sign(message)
    headers = sign_record(private_key, "police-93-2026-1", topic, key, value, timestamp_ms=stamp)
    verifier = RecordVerifier()
    n = args.records

    secret = secret_key(private_key)

    def bare_sign() -> None:
        for _ in range(n):
            sign(secret, message)

    def openssl_sign() -> None:
        for _ in range(n):
            private_key.sign(message)

    parsed = public_key_from_b64(public_key_b64(private_key))

    def bare_verify() -> None:
        for _ in range(n):
            verifies(parsed, signature, message)

    def openssl_verify() -> None:
        for _ in range(n):
            public_key.verify(signature, message)

    def hub_sign() -> None:
        for _ in range(n):
            sign_record(secret, "police-93-2026-1", topic, key, value, timestamp_ms=stamp)

    def hub_verify() -> None:
        for _ in range(n):
            verifier.verify_record(topic, key, value, headers, agency, now)

    results = {
        name: rate(operation, n, args.repeat)
        for name, operation in (
            ("ed25519_sign", bare_sign),
            ("ed25519_sign_openssl", openssl_sign),
            ("ed25519_verify", bare_verify),
            ("ed25519_verify_openssl", openssl_verify),
            ("sign_record", hub_sign),
            ("verify_record", hub_verify),
        )
    }
    print(
        json.dumps(
            {
                "value_bytes": VALUE_BYTES,
                "signed_bytes": len(message),
                "records": n,
                "repeat": args.repeat,
                "per_second": {k: round(v) for k, v in results.items()},
                "us_per_record": {k: round(1e6 / v, 1) for k, v in results.items()},
                "verify_record_vs_bare_verify": round(
                    results["verify_record"] / results["ed25519_verify"], 3
                ),
                "python": platform.python_version(),
                "cryptography": cryptography.__version__,
                "pynacl": nacl.__version__,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
