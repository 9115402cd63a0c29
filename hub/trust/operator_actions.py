"""The operator-action key: what proves that an operator, through the CLI or the dashboard,
asked the worker to act (re-drive a dead letter, request, approve or reject an erasure).

The worker obeys two topics written by people rather than agencies: ``nrm.redrive`` and
``nrm.erasure``. A record there is believed only when it carries the usual signature headers
(``hub.trust.signing``) made by the operator-action key, within the ingest windows (a copy
written again a day later is STALE_SIGNATURE). The key is not the hub's: the dashboard is a
web-facing process, and a thief of its key must not be able to sign inbox deliveries, dead
letters or audit entries. The worker trusts it for those two topics only (docs/SIGNING.md,
"Operator actions").

A re-drive also carries the dead letter's own signature, made by the hub's key when the
worker wrote it to ``nrm.deadletters``: renamed (``nrm-letter-*``) so that it travels beside
the operator's, and checked by the worker, so a letter nobody but the hub could have written
is the only thing a re-drive can push through again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Final

from hub.trust.agency_keys import load_private_key
from hub.trust.signing import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_HEADERS,
    TIMESTAMP_HEADER,
    Header,
    ReceivedHeaders,
    RecordSigner,
    public_key_from_b64,
)
from hub.trust.verification import INGEST_POLICY, verify_from_hub

OPERATOR_ACTIONS_PUBLIC_KEY_FILE: Final = "operator-actions-public-key.txt"
"""The operator-action public key's file in the configuration folder."""

LETTER_PREFIX: Final = "nrm-letter-"
"""The dead letter's own signature headers travel on a re-drive under this prefix."""
CARRIED: Final = {name: LETTER_PREFIX + name.removeprefix("nrm-") for name in SIGNATURE_HEADERS}
"""``nrm-sig`` → ``nrm-letter-sig``, ``nrm-key-id`` → ``nrm-letter-key-id``, ``nrm-ts`` →
``nrm-letter-ts``."""
_UNCARRIED: Final = {carried: name for name, carried in CARRIED.items()}
assert set(CARRIED) == {SIGNATURE_HEADER, KEY_ID_HEADER, TIMESTAMP_HEADER}


def operator_action_keys(config_dir: Path) -> tuple[str, ...]:
    """The operator-action public key (base64) the worker trusts, from ``config_dir``.

    ValueError, one line, when the file is missing or holds no 32-byte Ed25519 key.
    """
    path = config_dir / OPERATOR_ACTIONS_PUBLIC_KEY_FILE
    try:
        key = path.read_text().strip()
    except OSError as exc:
        raise ValueError(
            f"impossible de lire la clé des actions d'opérateur {path} : {exc.strerror}"
        ) from None
    try:
        public_key_from_b64(key)
    except ValueError as exc:
        raise ValueError(f"clé des actions d'opérateur inutilisable dans {path} : {exc}") from None
    return (key,)


def operator_action_signer(key_path: Path, key_id: str) -> RecordSigner:
    """The signer of the CLI and the dashboard (``HUB_OPERATOR_ACTION_KEY_PATH``);
    ``KeyFileError`` (a ValueError, one line) when the key cannot be read."""
    return RecordSigner(load_private_key(key_path), key_id)


def verify_operator_action(
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: ReceivedHeaders,
    operator_keys: Sequence[str],
    *,
    now: datetime | None = None,
) -> str | None:
    """Prove that an operator-action key signed this record, within the ingest windows;
    return its key id. ``SignatureError`` otherwise: BAD_SIGNATURE (unsigned, forged, another
    key, none configured), STALE_SIGNATURE (signed outside the windows: a replayed copy)."""
    return verify_from_hub(
        topic, key, value, headers, list(operator_keys), policy=INGEST_POLICY, now=now
    )


def carry_signature(headers: ReceivedHeaders) -> list[Header]:
    """A dead letter's signature headers, renamed to travel on its re-drive."""
    return [
        (CARRIED[name], value)
        for name, value in headers or ()
        if name in CARRIED and value is not None
    ]


def carried_signature(headers: ReceivedHeaders) -> list[tuple[str, bytes | None]]:
    """The dead letter's own signature headers a re-drive carries, under their own names."""
    return [(_UNCARRIED[name], value) for name, value in headers or () if name in _UNCARRIED]
