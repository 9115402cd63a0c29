"""Load the committed schemas into a Confluent-compatible registry under their committed ids.

The hub's schema ids are committed in ``schemas/registry.json`` (``schemas/registered/ID.avsc``
freezes what each id stands for), so every process, the embedded registry and every agency's
client agree on them. A production registry must serve the very same ids: registering the
schemas normally would let the registry pick its own ids, and a record framed with id 7 by the
hub would then decode with the wrong schema elsewhere.

Confluent Schema Registry's IMPORT mode takes a schema *with* its id and version. This script:

1. reads the committed registry (standard library only, so it runs anywhere httpx does);
2. checks what the registry already holds: an id or a (subject, version) that holds another
   schema is a conflict, and nothing is written (exit 1);
3. if something is missing: sets the mode to IMPORT (``force``: the registry may already hold
   the older ids) and posts each missing version with its id; then, whatever was missing, makes
   sure the compatibility is BACKWARD_TRANSITIVE and the mode READONLY (new schemas go through
   ``hub schemas register`` and a commit, never through the REST API, as with the embedded
   registry);
4. verifies that every committed (subject, version) has its committed id and schema.

Running it again is a no-op. ``--verify-only`` does step 4 alone (a post-deploy check; it also
passes against the embedded registry, ``hub registry serve``). Needs ``mode.mutability=true``
on the registry (``SCHEMA_REGISTRY_MODE_MUTABILITY``).

    python deploy/registry_import.py --url http://schema-registry:8081 [--schemas-dir schemas]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
COMPATIBILITY = "BACKWARD_TRANSITIVE"
FINAL_MODE = "READONLY"
SCHEMA_NOT_FOUND = 40403
SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
NOT_FOUND = {SCHEMA_NOT_FOUND, SUBJECT_NOT_FOUND, VERSION_NOT_FOUND}
CONFLICT = 1
BAD_INPUT = 2


class RegistryConflict(RuntimeError):
    """The registry holds something else under a committed id, or answered unexpectedly."""


@dataclass(frozen=True)
class CommittedSchema:
    """One committed (subject, version) and the id and schema it must have everywhere."""

    subject: str
    version: int
    schema_id: int
    schema: dict[str, Any]

    @property
    def text(self) -> str:
        """The schema string as the embedded registry serves it."""
        return json.dumps(self.schema, separators=(",", ":"))


def load_committed(schemas_dir: Path) -> list[CommittedSchema]:
    """Every committed version, ordered by subject then version (the import order)."""
    manifest = json.loads((schemas_dir / "registry.json").read_text(encoding="utf-8"))
    committed = [
        CommittedSchema(
            subject=subject,
            version=int(entry["version"]),
            schema_id=int(entry["id"]),
            schema=json.loads(
                (schemas_dir / "registered" / f"{entry['id']}.avsc").read_text(encoding="utf-8")
            ),
        )
        for subject, entries in manifest["subjects"].items()
        for entry in entries
    ]
    return sorted(committed, key=lambda c: (c.subject, c.version))


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_code(response: httpx.Response) -> int | None:
    body = _body(response)
    return body.get("error_code") if isinstance(body, dict) else None


def _expect_ok(response: httpx.Response, what: str) -> Any:
    if response.status_code != 200:
        raise RegistryConflict(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    return _body(response)


def _same_schema(served: str, committed: CommittedSchema) -> bool:
    try:
        return bool(json.loads(served) == committed.schema)
    except ValueError:
        return False


def missing_versions(
    client: httpx.Client, committed: Sequence[CommittedSchema]
) -> list[CommittedSchema]:
    """The committed versions the registry lacks; ``RegistryConflict`` on any conflict."""
    missing: list[CommittedSchema] = []
    for entry in committed:
        by_id = client.get(f"/schemas/ids/{entry.schema_id}")
        by_version = client.get(f"/subjects/{entry.subject}/versions/{entry.version}")
        id_free = by_id.status_code == 404 and _error_code(by_id) in NOT_FOUND
        version_free = by_version.status_code == 404 and _error_code(by_version) in NOT_FOUND
        label = f"{entry.subject} v{entry.version} (id {entry.schema_id})"
        if not id_free:
            served = _expect_ok(by_id, f"GET id {entry.schema_id}")
            if not _same_schema(served.get("schema", ""), entry):
                raise RegistryConflict(f"{label}: id {entry.schema_id} holds another schema")
        if not version_free:
            served_id = _expect_ok(by_version, f"GET {label}").get("id")
            if served_id != entry.schema_id:
                raise RegistryConflict(f"{label}: the registry has it as id {served_id}")
        if version_free:
            # A free id, or the same schema already under this id for another subject
            # (Confluent shares ids between subjects): IMPORT adds the version with that id.
            missing.append(entry)
    return missing


def import_versions(client: httpx.Client, missing: Sequence[CommittedSchema]) -> None:
    """Post each missing version with its id, in IMPORT mode, then lock the registry."""
    _expect_ok(client.put("/mode", params={"force": "true"}, json={"mode": "IMPORT"}), "IMPORT")
    for entry in missing:
        response = client.post(
            f"/subjects/{entry.subject}/versions",
            json={
                "schema": entry.text,
                "schemaType": "AVRO",
                "id": entry.schema_id,
                "version": entry.version,
            },
        )
        answered = _expect_ok(response, f"import {entry.subject} v{entry.version}")
        if answered.get("id") != entry.schema_id:
            raise RegistryConflict(
                f"{entry.subject} v{entry.version}: registered as id {answered.get('id')}, "
                f"not {entry.schema_id}"
            )


def lock(client: httpx.Client) -> None:
    """BACKWARD_TRANSITIVE compatibility, then READONLY: ids change only through a commit.
    Writes only what differs, so a re-run against a locked registry writes nothing."""
    mode = _expect_ok(client.get("/mode"), "GET /mode").get("mode")
    level = _expect_ok(client.get("/config"), "GET /config").get("compatibilityLevel")
    if level != COMPATIBILITY:
        if mode == FINAL_MODE:
            _expect_ok(client.put("/mode", json={"mode": "READWRITE"}), "set mode READWRITE")
            mode = "READWRITE"
        _expect_ok(client.put("/config", json={"compatibility": COMPATIBILITY}), "compatibility")
    if mode != FINAL_MODE:
        _expect_ok(client.put("/mode", json={"mode": FINAL_MODE}), f"set mode {FINAL_MODE}")


def verify(client: httpx.Client, committed: Sequence[CommittedSchema]) -> list[str]:
    """Every committed version the registry does not serve with its id and schema."""
    problems: list[str] = []
    for entry in committed:
        response = client.get(f"/subjects/{entry.subject}/versions/{entry.version}")
        label = f"{entry.subject} v{entry.version}"
        if response.status_code != 200:
            problems.append(f"{label}: HTTP {response.status_code}")
            continue
        served = response.json()
        if served.get("id") != entry.schema_id:
            problems.append(f"{label}: id {served.get('id')}, committed {entry.schema_id}")
        elif not _same_schema(served.get("schema", ""), entry):
            problems.append(f"{label}: another schema than the committed one")
    return problems


def run(client: httpx.Client, schemas_dir: Path, *, verify_only: bool = False) -> int:
    """Import (unless ``verify_only``) and verify; the process exit code."""
    committed = load_committed(schemas_dir)
    try:
        if not verify_only:
            missing = missing_versions(client, committed)
            if missing:
                import_versions(client, missing)
            lock(client)
            print(f"imported {len(missing)} of {len(committed)} schema versions", flush=True)
        problems = verify(client, committed)
    except (RegistryConflict, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return CONFLICT
    for problem in problems:
        print(f"mismatch: {problem}", file=sys.stderr)
    if problems:
        return CONFLICT
    print(f"verified {len(committed)} schema versions under their committed ids", flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``--url`` (required), ``--schemas-dir``, ``--verify-only``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", required=True, help="registry base URL")
    parser.add_argument(
        "--schemas-dir",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "schemas",
        help="the committed schemas/ folder",
    )
    parser.add_argument("--verify-only", action="store_true", help="only check, write nothing")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run against the registry at ``--url``."""
    args = build_parser().parse_args(argv)
    if not (args.schemas_dir / "registry.json").is_file():
        print(f"error: no registry.json in {args.schemas_dir}", file=sys.stderr)
        return BAD_INPUT
    headers = {"Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE}
    with httpx.Client(base_url=args.url, headers=headers, timeout=args.timeout) as client:
        return run(client, args.schemas_dir, verify_only=args.verify_only)


if __name__ == "__main__":
    sys.exit(main())
