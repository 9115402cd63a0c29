"""Per-agency API tokens of the HTTP gateway: minted once, stored hashed, checked in constant time.

A token reads ``nrm.<token id>.<secret>``: the token id (``<agency>-<8 hex>``) says which stored
hash to compare against, so checking a token costs one key derivation, never one per agency.
The secret is 32 random bytes (base64url). ``deploy/config/gateway_tokens.yaml`` keeps, per
token id, the agency it authenticates and ``pbkdf2_sha256$<iterations>$<salt>$<hash>``
(``connectors/credentials.py``) — never the token. Because the secret is random (256 bits),
the slow hash is defence in depth for a leaked configuration file, not the only protection; the
gateway caches tokens it has already verified (by their SHA-256) so a busy agency pays the
derivation once, not per request.

``python -m connectors.gateway.tokens AGENCY`` mints a token: it prints the token once (give
it to the agency over a secure channel) and the YAML entry to add to the tokens file.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import secrets
import sys
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.credentials import (
    TOKEN_ITERATIONS,
    b64,
    hash_token_secret,
    parse_token_hash,
    token_secret_matches,
)
from hub.rules.directory import AgencyId
from hub.runtime.config_files import load_config

TOKENS_FILE = "gateway_tokens.yaml"
TOKEN_PREFIX = "nrm"  # noqa: S105 - the token format's prefix, not a secret
SECRET_BYTES = 32
_TOKEN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}-[0-9a-f]{8}$")
_VERIFIED_LIMIT = 4096


class TokenError(ValueError):
    """A token that does not authenticate anyone (the gateway answers 401, whatever the cause)."""


class TokenEntry(BaseModel):
    """One stored token: which agency it authenticates, and its salted hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token_id: str = Field(pattern=_TOKEN_ID.pattern)
    agency: AgencyId
    hash: str = Field(description="pbkdf2_sha256$<iterations>$<salt b64url>$<hash b64url>")
    created_at: datetime | None = None
    expires_at: datetime | None = Field(
        default=None, description="After this instant the token authenticates nobody."
    )
    note: str | None = None

    @field_validator("hash")
    @classmethod
    def _well_formed(cls, value: str) -> str:
        parse_token_hash(value)
        return value


class TokensFile(BaseModel):
    """The shape of ``gateway_tokens.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: tuple[TokenEntry, ...] = ()


def split_token(token: str) -> tuple[str, str]:
    """(token id, secret) of a presented token; TokenError when it is not shaped like one."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not _TOKEN_ID.fullmatch(parts[1]):
        raise TokenError("not an NRM gateway token")
    if not 16 <= len(parts[2]) <= 128:
        raise TokenError("not an NRM gateway token")
    return parts[1], parts[2]


def mint_token(
    agency: str, *, iterations: int = TOKEN_ITERATIONS, note: str | None = None
) -> tuple[str, TokenEntry]:
    """A new token for ``agency``: the plaintext (shown once) and the entry to store."""
    token_id = f"{agency}-{secrets.token_hex(4)}"
    secret = b64(secrets.token_bytes(SECRET_BYTES))
    entry = TokenEntry(
        token_id=token_id,
        agency=agency,
        hash=hash_token_secret(secret, iterations=iterations),
        created_at=datetime.now(UTC).replace(microsecond=0),
        note=note,
    )
    return f"{TOKEN_PREFIX}.{token_id}.{secret}", entry


def entry_yaml(entry: TokenEntry) -> str:
    """``entry`` as the YAML list item to append under ``tokens:`` (indented two spaces)."""
    data = entry.model_dump(mode="json", exclude_none=True)
    text = yaml.safe_dump([data], sort_keys=False, allow_unicode=True, width=200)
    return "".join(
        f"  {line}\n" if index == 0 else f"    {line[2:]}\n"
        for index, line in enumerate(text.rstrip("\n").split("\n"))
    )


class TokenStore:
    """The tokens the gateway accepts, with a cache of tokens already verified.

    ``authenticate`` is the whole check. The gateway splits it to keep the key derivation off
    its event loop: ``cached`` (fast, on the loop), ``verify`` (slow, thread-safe: it only
    reads), then ``remember``.
    """

    def __init__(self, entries: tuple[TokenEntry, ...] | list[TokenEntry]) -> None:
        self._entries = {entry.token_id: entry for entry in entries}
        self._verified: OrderedDict[bytes, TokenEntry] = OrderedDict()

    @classmethod
    def load(cls, path: Path) -> TokenStore:
        """Read and validate a tokens file (ConfigError naming each bad entry)."""
        return cls(load_config(path, TokensFile).tokens)

    def __len__(self) -> int:
        return len(self._entries)

    def agencies(self) -> set[str]:
        """Agencies that have at least one token."""
        return {entry.agency for entry in self._entries.values()}

    def known(self, token_id: str) -> bool:
        """True when ``token_id`` is one of the stored tokens' ids (a wrong secret for it would
        cost a key derivation)."""
        return token_id in self._entries

    def cached(self, token: str, now: datetime | None = None) -> str | None:
        """The agency of a token verified before (None: not verified yet); TokenError when
        it has expired since."""
        entry = self._verified.get(_fingerprint(token))
        if entry is None:
            return None
        return _unexpired(entry, now)

    def verify(self, token: str, now: datetime | None = None) -> TokenEntry:
        """The stored entry ``token`` matches; TokenError when it authenticates nobody.

        An unknown token id is refused without deriving anything: token ids are not secrets
        (they name the agency), and skipping the derivation keeps a flood of made-up tokens
        cheap to refuse.
        """
        token_id, secret = split_token(token)
        stored = self._entries.get(token_id)
        if stored is None or not token_secret_matches(secret, stored.hash):
            raise TokenError("unknown token")
        _unexpired(stored, now)
        return stored

    def remember(self, token: str, entry: TokenEntry) -> None:
        """Cache a verified token (by its SHA-256, never in clear)."""
        self._verified[_fingerprint(token)] = entry
        while len(self._verified) > _VERIFIED_LIMIT:
            self._verified.popitem(last=False)

    def authenticate(self, token: str, now: datetime | None = None) -> str:
        """The agency ``token`` authenticates; TokenError when it authenticates nobody."""
        agency = self.cached(token, now)
        if agency is None:
            entry = self.verify(token, now)
            self.remember(token, entry)
            agency = entry.agency
        return agency


def _fingerprint(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _unexpired(entry: TokenEntry, now: datetime | None) -> str:
    if entry.expires_at is not None and (now or datetime.now(UTC)) >= entry.expires_at:
        raise TokenError("token expired")
    return entry.agency


def main(argv: list[str] | None = None) -> int:
    """Mint a token for an agency: print the token, then the YAML entry for the tokens file."""
    parser = argparse.ArgumentParser(
        prog="python -m connectors.gateway.tokens", description=main.__doc__
    )
    parser.add_argument("agency", help="identifiant d'organisme de l'annuaire, ex. police-93")
    parser.add_argument("--note", default=None, help="texte libre conservé avec l'empreinte")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"^[a-z0-9][a-z0-9-]{1,62}$", args.agency):
        print(f"erreur : pas un identifiant d'organisme : {args.agency!r}", file=sys.stderr)
        return 2
    token, entry = mint_token(args.agency, note=args.note)
    print(
        f"jeton (à remettre une fois à {args.agency}, par un canal sûr ; il n'est pas conservé) :"
    )
    print(f"  {token}")
    print(f"à ajouter à deploy/config/{TOKENS_FILE} sous `tokens:` :")
    print(entry_yaml(entry), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
