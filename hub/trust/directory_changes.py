"""The changes ``hub directory`` makes, as pure functions: an agency with one more key, with
one key fewer, and the rotation entry that hands the directory authority to a new key.

Each raises ``ValueError`` with one clear sentence on bad input (the command prints it).
"""

from __future__ import annotations

from datetime import datetime

from hub.contracts.enums import AgencyRole
from hub.contracts.hub_records import (
    DirectoryEntry,
    SigningKeyEntry,
)
from hub.rules.directory import Agency, SigningKey
from hub.trust.directory_authority import AUTHORITY_ID
from hub.trust.signing import public_key_from_b64


def with_key(agency: Agency, key: SigningKey) -> Agency:
    """``agency`` with ``key`` added (its id must be new, its public key an Ed25519 key)."""
    public_key_from_b64(key.public_key)
    if any(k.key_id == key.key_id for k in agency.signing_keys):
        raise ValueError(f"{agency.id} a déjà une clé {key.key_id!r}")
    if any(k.public_key == key.public_key for k in agency.signing_keys):
        raise ValueError(f"{agency.id} a déjà cette clé publique")
    return agency.model_copy(update={"signing_keys": (*agency.signing_keys, key)})


def without_key(agency: Agency, key_id: str) -> Agency:
    """``agency`` with the key ``key_id`` removed: records signed with it are refused."""
    kept = tuple(k for k in agency.signing_keys if k.key_id != key_id)
    if len(kept) == len(agency.signing_keys):
        known = ", ".join(k.key_id for k in agency.signing_keys) or "none"
        raise ValueError(f"{agency.id} n'a pas de clé {key_id!r} (ses clés : {known})")
    return agency.model_copy(update={"signing_keys": kept})


def rotation_entry(key: SigningKey, updated_at: datetime) -> DirectoryEntry:
    """The entry that makes ``key`` the directory authority's only key (sign it with the
    current authority key)."""
    public_key_from_b64(key.public_key)
    return DirectoryEntry(
        agency_id=AUTHORITY_ID,
        updated_at=updated_at,
        name="Directory authority",
        role=AgencyRole.HUB,
        signing_keys=(SigningKeyEntry(key_id=key.key_id, public_key=key.public_key),),
    )
