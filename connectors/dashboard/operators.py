"""Operator accounts of the dashboard: passwords stored as scrypt hashes, checked in constant time.

``deploy/config/operators.yaml`` lists each operator (national coordination staff) with
``scrypt$<n>$<r>$<p>$<salt>$<hash>`` of their password, never the password
(``connectors/credentials.py``: scrypt rather than the tokens' PBKDF2 because people choose
passwords, and a memory-hard hash makes each guess against a leaked file costly). An unknown
operator id costs the same hash as a known one, so timing does not tell which ids exist.

Agency gateway tokens live in another file (``gateway_tokens.yaml``) with another format and
are never looked up here: an agency's credential cannot open the dashboard.

``python -m connectors.dashboard.operators OPERATOR_ID`` reads a password (twice, not echoed)
and prints the YAML entry to add to the operators file.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.credentials import SALT_BYTES, hash_password, parse_password_hash, password_matches
from hub.runtime.config_files import load_config

OPERATORS_FILE: Final = "operators.yaml"
MIN_PASSWORD_LENGTH: Final = 12
_OPERATOR_ID: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")


class OperatorEntry(BaseModel):
    """One operator: id (what they type), display name, password hash, whether enabled."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_OPERATOR_ID.pattern)
    name: str = Field(min_length=1, max_length=200)
    password_hash: str = Field(description="scrypt$<n>$<r>$<p>$<salt b64url>$<hash b64url>")
    disabled: bool = False
    note: str | None = None

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
            raise ValueError(f"operator ids listed twice: {', '.join(duplicates)}")
        return operators


# A fixed hash to spend the same time on for an unknown operator id.
_DUMMY_HASH: Final = hash_password("not a password", salt=b"\0" * SALT_BYTES)


class OperatorStore:
    """The operators file, loaded and validated once."""

    def __init__(self, operators: tuple[OperatorEntry, ...]) -> None:
        self._by_id = {o.id: o for o in operators}

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
    """At most ``limit`` failed logins per key (operator id, client address) per ``window_s``.

    Memory is bounded: at most ``max_keys`` keys are remembered (the oldest forgotten first).
    """

    def __init__(self, limit: int = 5, window_s: float = 900.0, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(key, []) if now - t < self.window_s]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def blocked(self, *keys: str, now: float | None = None) -> bool:
        """True when any of ``keys`` has used up its failures in the window."""
        at = time.monotonic() if now is None else now
        return any(len(self._recent(key, at)) >= self.limit for key in keys)

    def failed(self, *keys: str, now: float | None = None) -> None:
        """Count one failure against each of ``keys``."""
        at = time.monotonic() if now is None else now
        for key in keys:
            times = self._recent(key, at)
            self._failures[key] = [*times, at]
            self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of ``keys``."""
        for key in keys:
            self._failures.pop(key, None)


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
