"""Minimised projections, field by field, driven by the ``category`` tags in the Avro schemas.

Every field that carries personal data is tagged with its data category in ``schemas/avro``
and is nullable, so a projection is the same registered record with the fields a recipient
may not see set to null: the recipient decodes it with stock Avro tools, and the schema tells
it which fields could have been there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from hub.contracts.enums import DataCategory
from hub.contracts.registry import SchemaRegistry

CATEGORY_ATTRIBUTE = "category"


@dataclass(frozen=True)
class CategoryTree:
    """Where personal data sits in a record: tagged fields, and nested records holding some."""

    tagged: Mapping[str, DataCategory]
    nested: Mapping[str, CategoryTree]

    @property
    def categories(self) -> frozenset[DataCategory]:
        """Every category that can appear anywhere in the record."""
        found = set(self.tagged.values())
        for child in self.nested.values():
            found |= child.categories
        return frozenset(found)

    @cached_property
    def tags(self) -> tuple[tuple[str, str], ...]:
        """Each tagged field with its category's tag, in field order: read for every event's
        audit entry, where a tag computed from its enum costs more than the lookup."""
        return tuple((name, category.tag) for name, category in self.tagged.items())


def category_tree(schema: Mapping[str, Any]) -> CategoryTree:
    """The category tree of an expanded record schema (named types inlined at first use)."""
    return _tree(schema, {})


def _tree(schema: Mapping[str, Any], named: dict[str, Mapping[str, Any]]) -> CategoryTree:
    named[schema["name"]] = schema
    tagged: dict[str, DataCategory] = {}
    nested: dict[str, CategoryTree] = {}
    for field in schema["fields"]:
        if CATEGORY_ATTRIBUTE in field:
            tagged[field["name"]] = DataCategory.from_tag(field[CATEGORY_ATTRIBUTE])
            continue
        record = _record_branch(field["type"], named)
        if record is not None:
            child = _tree(record, named)
            if child.tagged or child.nested:
                nested[field["name"]] = child
    return CategoryTree(tagged=tagged, nested=nested)


def _record_branch(avro_type: Any, named: dict[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The record schema a field holds, directly or as a union branch, if any."""
    branches = avro_type if isinstance(avro_type, list) else [avro_type]
    for branch in branches:
        if isinstance(branch, dict) and branch.get("type") == "record":
            return branch
        if isinstance(branch, str) and branch in named:
            return named[branch]
    return None


def project(
    record: Mapping[str, Any], tree: CategoryTree, allowed: frozenset[DataCategory]
) -> dict[str, Any]:
    """A copy of ``record`` where every field of a category not in ``allowed`` is null."""
    projected = dict(record)
    for name, category in tree.tagged.items():
        if category not in allowed:
            projected[name] = None
    for name, child in tree.nested.items():
        value = record.get(name)
        if value is not None:
            projected[name] = project(value, child, allowed)
    return projected


def categories_present(record: Mapping[str, Any], tree: CategoryTree) -> frozenset[DataCategory]:
    """The categories that have at least one non-null field in ``record``."""
    present = {c for name, c in tree.tagged.items() if record.get(name) is not None}
    for name, child in tree.nested.items():
        value = record.get(name)
        if value is not None:
            present |= categories_present(value, child)
    return frozenset(present)


def personal_data(record: Mapping[str, Any], tree: CategoryTree) -> dict[str, dict[str, Any]]:
    """The non-null personal fields of ``record`` grouped by category tag, with dotted paths:
    ``{"identity": {"person.first_name": "Amina"}, ...}`` (what the audit log encrypts)."""
    grouped: dict[str, dict[str, Any]] = {}
    _collect(record, tree, "", grouped)
    return grouped


def _collect(
    record: Mapping[str, Any], tree: CategoryTree, prefix: str, out: dict[str, dict[str, Any]]
) -> None:
    for name, tag in tree.tags:
        value = record.get(name)
        if value is not None:
            out.setdefault(tag, {})[prefix + name] = value
    for name, child in tree.nested.items():
        value = record.get(name)
        if value is not None:
            _collect(value, child, f"{prefix}{name}.", out)


class Projector:
    """Category trees of every registered subject's latest version, computed once."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self._trees = {s: category_tree(registry.latest(s).schema) for s in registry.subjects()}

    def tree(self, subject: str) -> CategoryTree:
        """The category tree of ``subject`` (KeyError if it is not registered)."""
        return self._trees[subject]

    def project(
        self, subject: str, record: Mapping[str, Any], allowed: frozenset[DataCategory]
    ) -> dict[str, Any]:
        """``record`` of ``subject`` with only the ``allowed`` categories left."""
        return project(record, self._trees[subject], allowed)
