"""No log line carries a personal data field (docs/PRIVACY.md, "Logs").

Logs are outside every erasure and retention the hub controls, so the promise is that no
structlog call in ``hub/``, ``agents/`` or ``connectors/`` binds a field that the Avro
contracts tag with a data category (``"category"`` in schemas/avro), nor the places the same
data sits in bulk (a case's held ``record_json``, a dead letter's ``original`` bytes, the
whole ``person``). A keyword is suspect when its name, or any attribute, variable or string
its value reads, is one of those names; the few reviewed exceptions are listed with their reason.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from pathlib import Path

from hub.runtime.settings import PROJECT_ROOT

SOURCE_PACKAGES = ("hub", "agents", "connectors")
LOG_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "msg", "bind"}
)
LOGGER = re.compile(r"(\b|_)(log|logger|bound)\b")  # log, self.log, bound, get_logger()
BULK = frozenset({"record_json", "original", "person", "exploitation", "payload"})

REVIEWED: dict[tuple[str, str], str] = {
    ("agents/router.py", "detail"): "the codec's or the ingest's refusal message, not a field",
    ("agents/directory_follower.py", "detail"): "why a directory record was refused",
    ("agents/io/outbox_writer.py", "detail"): "the codec's message for an unencodable record",
    ("connectors/dashboard/read_model.py", "detail"): "why an audit record's proof failed",
    ("connectors/observatory_export.py", "detail"): "why a directory record was refused",
}
"""(module, keyword) pairs whose value shares a name with a personal field but is not one."""


def personal_fields(schemas: Path = PROJECT_ROOT / "schemas" / "avro") -> frozenset[str]:
    """Every field name the contracts tag with a data category."""
    names: set[str] = set()
    for path in schemas.glob("*.avsc"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        names |= {f["name"] for f in schema.get("fields", []) if "category" in f}
    return frozenset(names)


def _read_names(node: ast.AST) -> set[str]:
    names: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Attribute):
            names.add(child.attr)
        elif isinstance(child, ast.Name):
            names.add(child.id)
        elif isinstance(child, ast.Constant) and isinstance(child.value, str):
            names.add(child.value)  # getattr(person, "first_name")
    return names


def logged_personal_data(
    root: Path, personal: frozenset[str], reviewed: Mapping[tuple[str, str], str] = REVIEWED
) -> list[str]:
    """``module:line event keyword`` for each suspect keyword of a log call."""
    found: list[str] = []
    for package in SOURCE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = path.relative_to(root).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in LOG_METHODS
                    and LOGGER.search(ast.unparse(node.func.value))
                ):
                    continue
                for keyword in node.keywords:
                    if keyword.arg is None or (module, keyword.arg) in reviewed:
                        continue
                    read = {keyword.arg} | _read_names(keyword.value)
                    if read & (personal | BULK):
                        found.append(f"{module}:{node.lineno} {keyword.arg}")
    return sorted(found)


def test_the_contracts_tag_the_fields_this_check_looks_for() -> None:
    assert {"first_name", "health_needs", "narrative", "phone"} <= personal_fields()


def test_no_log_call_binds_a_personal_field() -> None:
    assert logged_personal_data(PROJECT_ROOT, personal_fields()) == []


def test_a_log_call_binding_a_personal_field_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "agents" / "leaky.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "import structlog\n"
        "log = structlog.get_logger()\n"
        "def held(event, state):\n"
        "    log.info('held', name=event.person.first_name)\n"
        "    log.bind(case=state.holds[0].record_json).warning('x')\n"
        "    structlog.get_logger().info('x', n=getattr(event, 'narrative'))\n"
        "    log.info('fine', case_id=str(event.case_id))\n"
    )
    assert logged_personal_data(tmp_path, personal_fields()) == [
        "agents/leaky.py:4 name",
        "agents/leaky.py:5 case",
        "agents/leaky.py:6 n",
    ]


def test_every_reviewed_exception_is_still_needed() -> None:
    # Without the exceptions the scan flags exactly them: it reads the real log calls, and
    # no exception outlives the code it excused.
    unreviewed = logged_personal_data(PROJECT_ROOT, personal_fields(), reviewed={})
    flagged = {(line.split(":")[0], line.rsplit(" ", 1)[1]) for line in unreviewed}
    assert flagged == set(REVIEWED)
