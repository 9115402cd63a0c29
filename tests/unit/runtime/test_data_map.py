"""docs/PRIVACY.md's data map holds to the code, so it cannot drift silently.

Its table must name every topic ``hub/contracts/topics.py`` declares (core topics, and the
agency outbox/inbox patterns) with the retention the schedule
(``deploy/config/retention.yaml``) gives it, no topic that is gone, and, in its ``code``
column, every module that opens a sqlite database or writes under ``settings.data_dir``.
The checks are functions of (document, topics, source tree), so the second half of this file
shows each one failing on a map or a code base that drifted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.contracts.enums import DataCategory
from hub.contracts.topics import (
    AGENCY_PLACEHOLDER,
    AUDIT,
    CASE_STATE,
    CORE_TOPICS,
    REDRIVE,
    TopicSpec,
    agency_topics,
)
from hub.runtime.retention import RetentionSchedule, TopicRetention
from hub.runtime.settings import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "PRIVACY.md"
SOURCE_PACKAGES = ("hub", "agents", "connectors")
COLUMNS = ("store", "kind", "code", "holds", "categories", "encrypted", "retention", "erasure")
KINDS = frozenset({"topic", "topic-pattern", "sqlite", "file", "csv", "log"})
AGENCY = AGENCY_PLACEHOLDER
SCHEDULE = RetentionSchedule.load(PROJECT_ROOT / "deploy" / "config")
EXTRA_CATEGORIES = frozenset({"case-metadata", "operator", "none"})
ENCRYPTED = frozenset({"yes", "partly", "no"})
SQLITE_OPEN = "sqlite3.connect"
DATA_DIR_WRITE = re.compile(r"data_dir\s*(/|\.joinpath\()")
FILE_WRITE = re.compile(
    r"\.write_(text|bytes)\(|\bos\.open\(|\bopen\([^)]*[\"'][wax]b?\+?[\"']"
    r"|\.open\(\s*[\"'][wax]"
)
"""Any other way a module writes a file: a path spelled without ``data_dir`` is a store too."""
NOT_PERSONAL = {
    "connectors/api_documents.py": "writes the API documents (schemas, no records)",
    "connectors/demo/run.py": "writes the demo processes' logs (fictional demo data)",
    "hub/cli/schemas.py": "writes an example event (the fictional example person)",
    "hub/contracts/registry.py": "writes frozen Avro schemas and their manifest",
    "hub/runtime/broker.py": "writes the embedded broker's own log (no record values)",
    "hub/trust/agency_keys.py": "writes an agency's private signing key (a secret, no person)",
}
"""Modules that write files holding no personal data, each with the reason; reviewed."""


@dataclass(frozen=True)
class Row:
    """One row of the data map."""

    store: str
    kind: str
    code: tuple[str, ...]
    categories: tuple[str, ...]
    encrypted: str
    retention: str


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_map(text: str) -> list[Row]:
    """The rows of every table whose header is ``COLUMNS``."""
    rows: list[Row] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("|") or tuple(_cells(line)) != COLUMNS:
            continue
        for body in lines[i + 2 :]:
            if not body.startswith("|"):
                break
            cells = _cells(body)
            assert len(cells) == len(COLUMNS), f"malformed data map row: {body}"
            store, kind, code, _holds, categories, encrypted, retention, _erasure = cells
            rows.append(
                Row(
                    store=store.replace("`", ""),
                    kind=kind,
                    code=tuple(c.strip() for c in code.split(",") if c.strip()),
                    categories=tuple(c.strip() for c in categories.split(",") if c.strip()),
                    encrypted=encrypted,
                    retention=retention,
                )
            )
    return rows


def expected_retention(entry: TopicRetention | None) -> str:
    """How the map spells a topic's retention (see "How to read the table")."""
    if entry is None:
        return "broker-default"
    if entry.compacted:
        lag = entry.max_compaction_lag_days
        return "compacted" + (f", superseded within {lag} days" if lag else "")
    days = entry.retention_days
    return "forever" if days == "forever" else f"{days} days"


def topic_problems(
    rows: Sequence[Row],
    core: Sequence[TopicSpec],
    agency: Sequence[TopicSpec],
    schedule: RetentionSchedule = SCHEDULE,
) -> list[str]:
    """Topics without a row, rows without a topic, retentions that disagree with the
    schedule."""
    declared = {"topic": {s.name: s for s in core}, "topic-pattern": {s.name: s for s in agency}}
    problems: list[str] = []
    seen: set[str] = set()
    for row in rows:
        if row.kind not in declared:
            continue
        if row.store in seen:
            problems.append(f"{row.store}: two rows")
        seen.add(row.store)
        spec = declared[row.kind].get(row.store)
        if spec is None:
            problems.append(f"{row.store}: a row names a {row.kind} that no longer exists")
        elif row.retention != (expected := expected_retention(schedule.for_topic(spec.name))):
            problems.append(
                f"{row.store}: the map says retention {row.retention!r}, "
                f"the schedule says {expected!r}"
            )
    for kind, specs in declared.items():
        problems += [f"{name}: {kind} without a row" for name in specs if name not in seen]
    return problems


def store_modules(root: Path) -> dict[str, str]:
    """Each module that opens a sqlite file or writes under ``data_dir``, and which it does."""
    found: dict[str, str] = {}
    for package in SOURCE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            relative = path.relative_to(root).as_posix()
            if SQLITE_OPEN in text:
                found[relative] = "opens a sqlite database"
            elif DATA_DIR_WRITE.search(text):
                found[relative] = "writes under data_dir"
            elif FILE_WRITE.search(text):
                found[relative] = "writes a file"
    return found


def store_problems(rows: Sequence[Row], root: Path) -> list[str]:
    """Store modules no row names in its ``code`` column."""
    mapped = {code for row in rows for code in row.code}
    return [
        f"{module} {what} but no data map row names it in 'code'"
        for module, what in store_modules(root).items()
        if module not in mapped and module not in NOT_PERSONAL
    ]


def row_problems(rows: Sequence[Row], root: Path) -> list[str]:
    """Unknown kinds, categories or encryption words, and code paths that do not exist."""
    allowed = {c.tag for c in DataCategory if c is not DataCategory.UNKNOWN} | EXTRA_CATEGORIES
    problems: list[str] = []
    for row in rows:
        if row.kind not in KINDS:
            problems.append(f"{row.store}: unknown kind {row.kind!r}")
        problems += [
            f"{row.store}: unknown category {c!r}" for c in row.categories if c not in allowed
        ]
        if row.encrypted.split(":")[0].strip() not in ENCRYPTED:
            problems.append(f"{row.store}: 'encrypted' must start with yes, partly or no")
        problems += [f"{row.store}: no such file {c}" for c in row.code if not (root / c).is_file()]
    named = {c for row in rows for c in row.categories}
    problems += [
        f"category {c.tag!r} appears in no row"
        for c in DataCategory
        if c is not DataCategory.UNKNOWN and c.tag not in named
    ]
    return problems


def all_problems(
    text: str,
    core: Sequence[TopicSpec],
    root: Path = PROJECT_ROOT,
    schedule: RetentionSchedule = SCHEDULE,
) -> list[str]:
    rows = parse_map(text)
    if not rows:
        return ["no data map table (header: " + " | ".join(COLUMNS) + ")"]
    agency = agency_topics([AGENCY])
    return (
        topic_problems(rows, core, agency, schedule)
        + store_problems(rows, root)
        + row_problems(rows, root)
    )


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def test_the_data_map_matches_the_topics_and_the_stores(doc: str) -> None:
    assert all_problems(doc, CORE_TOPICS) == []


def test_every_store_of_the_retention_schedule_has_a_row(doc: str) -> None:
    stores = [row.store for row in parse_map(doc) if row.kind not in {"topic", "topic-pattern"}]
    for entry in SCHEDULE.stores:
        assert any(entry.store in store for store in stores), entry.store


def test_the_map_covers_the_stores_the_issue_names(doc: str) -> None:
    stores = {row.store for row in parse_map(doc)}
    kinds = {row.kind for row in parse_map(doc)}
    assert {"nrm.state.cases", "nrm.deadletters", "nrm.redrive"} <= stores
    assert {"nrm.outbox.<agency>", "nrm.inbox.<agency>"} <= stores
    assert {"sqlite", "file", "log", "csv"} <= kinds


# ---------------------------------------------------------------- the checks can fail


def _without_row(doc: str, store: str) -> str:
    return "\n".join(line for line in doc.splitlines() if not line.startswith(f"| `{store}` |"))


def test_a_removed_topic_row_is_caught(doc: str) -> None:
    problems = all_problems(_without_row(doc, CASE_STATE.name), CORE_TOPICS)
    assert problems == [f"{CASE_STATE.name}: topic without a row"]


def test_a_removed_agency_pattern_row_is_caught(doc: str) -> None:
    problems = all_problems(_without_row(doc, "nrm.inbox.<agency>"), CORE_TOPICS)
    assert problems == ["nrm.inbox.<agency>: topic-pattern without a row"]


def test_a_new_topic_without_a_row_is_caught(doc: str) -> None:
    new = TopicSpec(name="nrm.erasure-requests", purpose="a topic added later")
    assert all_problems(doc, (*CORE_TOPICS, new)) == ["nrm.erasure-requests: topic without a row"]


def test_a_row_for_a_removed_topic_is_caught(doc: str) -> None:
    remaining = tuple(spec for spec in CORE_TOPICS if spec.name != REDRIVE.name)
    assert all_problems(doc, remaining) == [
        f"{REDRIVE.name}: a row names a topic that no longer exists"
    ]


def test_a_retention_that_disagrees_is_caught(doc: str) -> None:
    entries = tuple(
        e.model_copy(update={"retention_days": 7}) if e.topic == AUDIT.name else e
        for e in SCHEDULE.topics
    )
    schedule = SCHEDULE.model_copy(update={"topics": entries})
    assert all_problems(doc, CORE_TOPICS, schedule=schedule) == [
        "nrm.audit: the map says retention 'forever', the schedule says '7 days'"
    ]


def test_a_new_sqlite_store_without_a_row_is_caught(doc: str, tmp_path: Path) -> None:
    module = tmp_path / "connectors" / "erasure" / "requests.py"
    module.parent.mkdir(parents=True)
    module.write_text('import sqlite3\n\ndb = sqlite3.connect("requests.sqlite")\n')
    assert store_problems(parse_map(doc), tmp_path) == [
        "connectors/erasure/requests.py opens a sqlite database but no data map row names it "
        "in 'code'"
    ]


def test_every_sqlite_module_of_the_code_base_is_found() -> None:
    # The scan itself must see the known stores, or an empty scan would pass vacuously.
    sqlite = {m for m, what in store_modules(PROJECT_ROOT).items() if "sqlite" in what}
    assert {
        "agents/audit_index/store.py",
        "connectors/prefecture/queue.py",
        "connectors/client/seen_events.py",
    } <= sqlite


def test_the_prefecture_queue_row_declares_the_names_its_schema_keeps(doc: str) -> None:
    """The queue keeps the name the permit is issued to: its row must say identity."""
    import sqlite3

    from connectors.prefecture.queue import SCHEMA

    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(permit_requests)")}
    db.close()
    (row,) = [r for r in parse_map(doc) if "connectors/prefecture/queue.py" in r.code]
    names = {"first_name", "last_name"} & columns
    assert names == {"first_name", "last_name"}
    assert ("identity" in row.categories) is bool(names)


@pytest.mark.parametrize(
    "source",
    [
        "from pathlib import Path\n\ndef keep(settings, text):\n"
        '    settings.data_dir.joinpath("requests.json").write_text(text)\n',
        'def keep(path, text):\n    with open(path, "a", encoding="utf-8") as f:\n'
        "        f.write(text)\n",
        "def keep(path, data):\n    path.write_bytes(data)\n",
    ],
    ids=["data_dir.joinpath", "open-append", "write_bytes"],
)
def test_a_file_store_spelled_without_data_dir_slash_is_caught(
    doc: str, tmp_path: Path, source: str
) -> None:
    # An attacker's (or a hurried developer's) way around the scan: no "data_dir /" in sight.
    module = tmp_path / "connectors" / "erasure" / "journal.py"
    module.parent.mkdir(parents=True)
    module.write_text(source)
    [problem] = store_problems(parse_map(doc), tmp_path)
    assert problem.startswith("connectors/erasure/journal.py ")
    assert problem.endswith("but no data map row names it in 'code'")


def test_every_module_said_to_hold_no_personal_data_still_writes_a_file() -> None:
    # The reviewed exceptions cannot outlive the code they excuse.
    assert set(NOT_PERSONAL) <= set(store_modules(PROJECT_ROOT))
