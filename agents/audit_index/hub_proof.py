"""The check that the hub signed a stored audit record: ``hub.trust`` bound to the hub's
configured public keys, in the shape ``hub.audit.proof.ProofCheck`` takes.

``hub.audit`` and ``hub.trust`` are independent wings, so the two meet here, where the readers
(``hub replay``, ``hub audit verify``, ``hub subject-report``, the dashboard) are assembled.
Audit entries are signed for the topic ``nrm.audit`` whatever topic holds them: a copy of the
log (a backup, a mirror) still verifies, while a record the hub signed for an inbox does not.
"""

from __future__ import annotations

from collections.abc import Iterable

from hub.audit.proof import Headers, Proof, ProofCheck
from hub.contracts.enums import DeadLetterReason
from hub.contracts.topics import AUDIT
from hub.runtime.settings import HubSettings
from hub.trust.hub_keys import hub_public_keys, signed_by_hub
from hub.trust.verification import SignatureError, parse_signature_headers

SIGNED_TOPIC = AUDIT.name
"""The topic every audit entry is signed for (``OutboxWriter.audit``, ``append_entries``)."""


class HubProof:
    """A ``ProofCheck`` against a fixed set of hub public keys (base64)."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = tuple(keys)

    def __call__(self, key: bytes | None, value: bytes | None, headers: Headers) -> Proof:
        try:
            return Proof.proven(signed_by_hub(SIGNED_TOPIC, key, value, headers, self.keys))
        except SignatureError as exc:
            return Proof.unproven(_said(exc, headers), reason=str(exc))


def _said(exc: SignatureError, headers: Headers) -> str:
    """Why the entry is not the hub's, for the operator (``exc`` stays the machine's)."""
    if exc.reason is DeadLetterReason.STALE_SIGNATURE:
        return "signature hors de la période acceptée"
    try:
        claimed = parse_signature_headers(headers).key_id
    except SignatureError:
        return "aucune signature lisible (en-têtes nrm-sig absents ou invalides)"
    return (
        f"la signature de la clé annoncée « {claimed} » ne se vérifie avec aucune clé du hub : "
        "entrée modifiée, ou signée par une autre clé ou pour un autre topic"
    )


def hub_proof(settings: HubSettings) -> ProofCheck:
    """The check for ``settings``: its hub-public-key.txt and previous hub keys.

    ValueError (one line) when they cannot be read: nothing can be proven without them.
    """
    return HubProof(hub_public_keys(settings.config_dir, settings.previous_hub_public_keys))
