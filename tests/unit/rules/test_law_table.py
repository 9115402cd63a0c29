"""Every rule of deploy/config cites a text that says it (issue 20 item 9).

Each YAML rule has an id derived from the file itself (below: ``rule_ids``), so a rule added
to a file gets an id without anyone having to think of it. docs/LAW.md's section "Every rule
of deploy/config → the texts" must have a row for each id, naming row ids (``CA-3``,
``MI-1``, …) of the tables above it, or ``HP-…`` rows of "hub policy" (section 10) with
their reason. The
test fails when a rule has no row, when a row names a row id that does not exist, or when a
consent exception's ``law`` cites a row that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from hub.runtime.settings import PROJECT_ROOT

CONFIG = PROJECT_ROOT / "deploy" / "config"
LAW = (PROJECT_ROOT / "docs" / "LAW.md").read_text(encoding="utf-8")
MAPPING_HEADING = "## 11. Every rule of deploy/config → the texts"
ROW_ID = re.compile(r"^\| ([A-Z]{2}-\d+) \|", re.MULTILINE)


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CONFIG / name).read_text(encoding="utf-8"))
    return loaded


def _short(message_type: str) -> str:
    return message_type.removeprefix("fr.nrm.")


def rule_ids() -> Iterator[str]:
    """One id per rule of the policy files: a top-level setting, a list entry (by its
    message type, role, name or event), or a map entry."""
    consent = _load("consent.yaml")
    for key in ("hold_timeout_hours", "law_enforcement_roles"):
        if key in consent:
            yield f"consent:{key}"
    for need in consent["needs"]:
        yield f"consent:need:{_short(need['message_type'])}:{need['recipient_role']}"
    for exception in consent.get("exceptions", ()):
        yield f"consent:exception:{exception['name']}"

    routing = _load("routing.yaml")
    yield "routing:identifying_roles"
    for kind in routing["competent_authority"]:
        yield f"routing:competent_authority:{kind}"
    for rule in routing["rules"]:
        yield f"routing:{_short(rule['message_type'])}"

    deadlines = _load("deadlines.yaml")
    for key in ("business_day_end", "max_information_extensions"):
        yield f"deadlines:{key}"
    for ladder in deadlines["ladders"]:
        yield f"deadlines:ladder:{ladder}"
    for rule in deadlines["rules"]:
        yield f"deadlines:{_short(rule['message_type'])}:{rule['recipient_role']}"

    pathway = _load("pathway.yaml")
    for key, value in pathway.items():
        if isinstance(value, list):
            for entry in value:
                name = next(entry[k] for k in ("request", "name", "route", "id") if entry.get(k))
                yield f"pathway:{key}:{_short(str(name))}"
        elif not key.endswith("_source"):
            yield f"pathway:{key}"

    lifecycle = _load("lifecycle.yaml")
    for transition in lifecycle["transitions"]:
        outcome = transition.get("outcome")
        yield f"lifecycle:{_short(transition['event'])}" + (f":{outcome}" if outcome else "")

    if (CONFIG / "retention.yaml").is_file():
        retention = _load("retention.yaml")
        for key, value in retention.items():
            if isinstance(value, list):
                for entry in value:
                    yield f"retention:{key}:{entry.get('topic') or entry.get('store')}"
            else:
                yield f"retention:{key}"

    if (CONFIG / "indicators.yaml").is_file():
        for indicator in _load("indicators.yaml")["indicators"]:
            yield f"indicators:{indicator['code']}"

    directory = _load("directory.yaml")
    if "secrecy_bound_roles" in directory:
        yield "directory:secrecy_bound_roles"


def mapping() -> dict[str, tuple[str, ...]]:
    """The rows of LAW.md's mapping section: rule id → the row ids it cites."""
    assert MAPPING_HEADING in LAW, f"docs/LAW.md has no section {MAPPING_HEADING!r}"
    section = LAW.split(MAPPING_HEADING, 1)[1].split("\n## ", 1)[0]
    found: dict[str, tuple[str, ...]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        found[cells[0].strip("`")] = tuple(re.findall(r"[A-Z]{2}-\d+", cells[1]))
    return found


def known_rows() -> set[str]:
    return set(ROW_ID.findall(LAW))


def test_every_yaml_rule_has_a_row_in_law_md() -> None:
    rows = mapping()
    missing = sorted(set(rule_ids()) - set(rows))
    assert missing == [], "rules with no row in docs/LAW.md §11:\n" + "\n".join(missing)


def test_every_row_of_the_mapping_cites_rows_that_exist() -> None:
    known = known_rows()
    for rule, cited in mapping().items():
        assert cited, f"{rule}: cites no row"
        unknown = sorted(set(cited) - known)
        assert unknown == [], f"{rule}: cites rows that docs/LAW.md does not have: {unknown}"


def test_the_mapping_names_no_rule_the_files_do_not_have() -> None:
    stale = sorted(set(mapping()) - set(rule_ids()))
    assert stale == [], "rows of docs/LAW.md §11 for rules that no longer exist:\n" + "\n".join(
        stale
    )


def test_every_consent_exception_cites_rows_that_exist() -> None:
    known = known_rows()
    for exception in _load("consent.yaml").get("exceptions", ()):
        unknown = sorted(set(exception["law"]) - known)
        assert unknown == [], f"{exception['name']}: {unknown}"


def test_a_hub_policy_row_gives_its_reason() -> None:
    for line in LAW.splitlines():
        match = re.match(r"^\| (HP-\d+) \|(.*)\|$", line)
        if match:
            cells = [c.strip() for c in match.group(2).split("|")]
            assert len(" ".join(cells)) > 40, f"{match.group(1)}: no reason given"
