"""Operator accounts of the dashboard: passwords stored as scrypt hashes, checked in constant time.

``deploy/config/operators.yaml`` lists each operator with their role (and a regional role's
région: ``hub/rules/roles.py`` decides what each role may see and do) and
``scrypt$<n>$<r>$<p>$<salt>$<hash>`` of their password, never the password
(``connectors/credentials.py``: scrypt rather than the tokens' PBKDF2 because people choose
passwords, and a memory-hard hash makes each guess against a leaked file costly). An unknown
operator id costs the same hash as a known one, so timing does not tell which ids exist, and
is never logged nor recorded in clear (``OperatorStore.recordable``): people type passwords
into the id field. Failed logins slow down their (operator, address) pair (``LoginThrottle``).

Agency gateway tokens live in another file (``gateway_tokens.yaml``) with another format and
are never looked up here: an agency's credential cannot open the dashboard.

``python -m connectors.dashboard.operators OPERATOR_ID`` reads a password (twice, not echoed)
and prints the YAML entry to add to the operators file.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import hmac
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.backoff import FailureBackoff
from connectors.credentials import SALT_BYTES, hash_password, parse_password_hash, password_matches
from connectors.dashboard.config import DashboardSettings
from hub.rules.roles import Grant, OperatorRole
from hub.runtime.config_files import load_config

MIN_PASSWORD_LENGTH: Final = 12
_OPERATOR_ID: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")


class OperatorEntry(BaseModel):
    """One operator: id (what they type), display name, password hash, whether enabled."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_OPERATOR_ID.pattern)
    name: str = Field(min_length=1, max_length=200)
    password_hash: str = Field(description="scrypt$<n>$<r>$<p>$<salt b64url>$<hash b64url>")
    role: OperatorRole = Field(description="What the operator may see and do (hub/rules/roles.py).")
    region: str | None = Field(default=None, description="A regional role's région (regions.yaml).")
    disabled: bool = False
    note: str | None = None

    @model_validator(mode="after")
    def _valid_grant(self) -> OperatorEntry:
        self.grant()  # a regional role without a région, or a région without one, is refused
        return self

    def grant(self) -> Grant:
        """The operator's role, as the rules decide on it."""
        return Grant(id=self.id, role=self.role, region=self.region, disabled=self.disabled)

    @field_validator("password_hash")
    @classmethod
    def _well_formed(cls, value: str) -> str:
        parse_password_hash(value)
        return value


class OperatorsFile(BaseModel):
    """The shape of ``operators.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operators: tuple[OperatorEntry, ...] = ()

    @field_validator("operators")
    @classmethod
    def _unique_ids(cls, operators: tuple[OperatorEntry, ...]) -> tuple[OperatorEntry, ...]:
        ids = [o.id for o in operators]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"identifiants d'opérateur en double : {', '.join(duplicates)}")
        return operators


# A fixed hash to spend the same time on for an unknown operator id.
_DUMMY_HASH: Final = hash_password("not a password", salt=b"\0" * SALT_BYTES)


class OperatorStore:
    """The operators file, loaded and validated once."""

    def __init__(self, operators: tuple[OperatorEntry, ...]) -> None:
        self._by_id = {o.id: o for o in operators}
        self._pseudonym_key = secrets.token_bytes(32)

    @classmethod
    def load(cls, path: Path) -> OperatorStore:
        """Read and validate an operators file (``ConfigError`` names each problem)."""
        return cls(load_config(path, OperatorsFile).operators)

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, operator_id: str) -> OperatorEntry | None:
        """The enabled operator with this id, if any."""
        entry = self._by_id.get(operator_id)
        return entry if entry is not None and not entry.disabled else None

    def grant(self, operator_id: str) -> Grant | None:
        """The enabled operator's role (None: no such operator, or disabled: may do nothing)."""
        entry = self.get(operator_id)
        return entry.grant() if entry is not None else None

    def __iter__(self) -> Iterator[OperatorEntry]:
        return iter(self._by_id.values())

    def recordable(self, operator_id: str) -> str:
        """What logs and the operator actions may say of a typed operator id.

        An id of the operators file (enabled or not) as is; anything else (a typo, or a password
        typed into the id field) only as ``unknown-<keyed hash>``: the same text gives the same
        pseudonym for the life of the process, so repeated attempts can be told apart and
        counted, but the key is drawn at start and never stored, so nothing typed can be read
        back or guessed offline from the kept records.
        """
        if operator_id in self._by_id:
            return operator_id
        digest = hmac.new(self._pseudonym_key, operator_id.encode(), hashlib.sha256)
        return f"unknown-{digest.hexdigest()[:16]}"

    def authenticate(self, operator_id: str, password: str) -> OperatorEntry | None:
        """The operator whose id and password these are, else None. Costs one scrypt hash
        whatever the outcome (unknown id, disabled account, wrong password)."""
        entry = self._by_id.get(operator_id)
        stored = entry.password_hash if entry is not None else _DUMMY_HASH
        matches = password_matches(password, stored)
        if entry is None or entry.disabled or not matches:
            return None
        return entry


class LoginThrottle:
    """Failed logins slow down the (operator id, client address) pair that made them.

    Growing delays, never a hard account lock (``connectors/backoff.py``): after ``free``
    failures of a pair, its next attempt waits ``base_s``, then twice as long, up to ``max_s``.
    Wrong passwords from one address never slow the operator down from another address. An
    address also gets its own, looser budget (``4 * free`` failures, whatever the operator ids
    typed) so it cannot spray guesses over many ids. A refusal during the wait costs no hash.
    """

    def __init__(
        self,
        *,
        free: int = 5,
        base_s: float = 1.0,
        max_s: float = 300.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pairs = FailureBackoff(
            free=free, base_s=base_s, max_s=max_s, max_keys=max_keys, clock=clock
        )
        self.sources = FailureBackoff(
            free=4 * free, base_s=base_s, max_s=max_s, max_keys=max_keys, clock=clock
        )

    @classmethod
    def from_config(cls, config: DashboardSettings) -> LoginThrottle:
        """The throttle ``config`` describes (``HUB_DASHBOARD_LOGIN_*``)."""
        return cls(
            free=config.login_attempts,
            base_s=config.login_delay_seconds,
            max_s=max(config.login_max_delay_seconds, config.login_delay_seconds),
        )

    @staticmethod
    def _pair(operator_id: str, client: str) -> str:
        return f"{operator_id}\0{client}"

    def wait(self, operator_id: str, client: str) -> float:
        """Seconds before this pair's next attempt is checked (0.0: now)."""
        return max(self.pairs.wait(self._pair(operator_id, client)), self.sources.wait(client))

    def failed(self, operator_id: str, client: str) -> float:
        """Count one failed login of the pair (and of the address); the wait it now imposes."""
        return max(self.pairs.failed(self._pair(operator_id, client)), self.sources.failed(client))

    def succeeded(self, operator_id: str, client: str) -> None:
        """Forget the pair's failures (the address keeps its own count)."""
        self.pairs.succeeded(self._pair(operator_id, client))


def main(argv: list[str] | None = None) -> int:
    """``python -m connectors.dashboard.operators OPERATOR_ID [--name NAME]``: print an entry."""
    parser = argparse.ArgumentParser(prog="python -m connectors.dashboard.operators")
    parser.add_argument("operator_id")
    parser.add_argument("--name", default=None, help="display name (default: the id)")
    args = parser.parse_args(argv)
    if not _OPERATOR_ID.match(args.operator_id):
        parser.error("an operator id is 2-63 characters: a-z, 0-9, '.', '_', '-'")
    password = getpass.getpass("password: ")
    if len(password) < MIN_PASSWORD_LENGTH:
        print(f"error: at least {MIN_PASSWORD_LENGTH} characters", file=sys.stderr)
        return 2
    if getpass.getpass("again: ") != password:
        print("error: the two passwords differ", file=sys.stderr)
        return 2
    entry = {
        "id": args.operator_id,
        "name": args.name or args.operator_id,
        "password_hash": hash_password(password),
    }
    sys.stdout.write(yaml.safe_dump([entry], allow_unicode=True, sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
