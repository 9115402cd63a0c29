"""The hub's own public keys, as configured: what proves that the hub wrote a record.

The current key is ``<config_dir>/hub-public-key.txt`` (the file recipients already read);
keys the hub signed with before a rotation are ``HubSettings.previous_hub_public_keys``. What
they signed (audit entries, years later) still verifies while they are listed; a key removed
from the list proves nothing any more, so remove one only when it is compromised.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hub.runtime.operator_reasons import os_reason
from hub.trust.batch_signing import is_batch_signed, verify_batch_record
from hub.trust.signing import ReceivedHeaders, public_key_from_b64
from hub.trust.verification import (
    SignatureError,
    SignaturePolicy,
    parse_signature_headers,
    verify_from_hub,
)

HUB_PUBLIC_KEY_FILE = "hub-public-key.txt"

ARCHIVE_POLICY = SignaturePolicy(past_window=None, future_window=None)
"""For records kept as evidence (the audit log): read at any time after they were signed, so
no window applies; what matters is the key and the bytes."""


def hub_public_keys(config_dir: Path, previous: Iterable[str] = ()) -> tuple[str, ...]:
    """The hub's current public key (from ``config_dir``) then its ``previous`` ones, base64.

    ValueError, one line, when the file is missing or a key is not a 32-byte Ed25519 key.
    """
    path = config_dir / HUB_PUBLIC_KEY_FILE
    try:
        current = path.read_text().strip()
    except OSError as exc:
        raise ValueError(
            f"impossible de lire la clé publique du hub {path} : {os_reason(exc)}"
        ) from None
    keys: list[str] = []
    for where, text in [(str(path), current), *(("previous_hub_public_keys", k) for k in previous)]:
        key = text.strip()
        try:
            public_key_from_b64(key)
        except ValueError as exc:
            raise ValueError(f"clé publique du hub inutilisable dans {where} : {exc}") from None
        if key not in keys:
            keys.append(key)
    return tuple(keys)


def signed_by_hub(
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: ReceivedHeaders,
    hub_keys: Iterable[str],
) -> str:
    """The id of the hub key that signed this record for ``topic``; SignatureError otherwise.

    The error names the key id the record claims, so a record signed by an agency's or a
    stranger's key says so. A record with ``nrm-merkle`` is checked as one of a signed batch
    (``hub.trust.batch_signing``, how the hub signs audit entries); one without, alone (how
    it signed them before, and still signs everything else).
    """
    keys = list(hub_keys)
    try:
        if is_batch_signed(headers):
            return verify_batch_record(topic, key, value, headers, keys)
        signer = verify_from_hub(topic, key, value, headers, keys, policy=ARCHIVE_POLICY)
    except SignatureError as exc:
        try:
            claimed = parse_signature_headers(headers).key_id
        except SignatureError:
            raise exc from None
        raise SignatureError(exc.reason, f"{exc.detail} (it claims key id {claimed!r})") from None
    return signer or ""
