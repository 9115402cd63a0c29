"""The agency directory: loading, widening circles, and runtime updates as records."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.contracts.enums import AgencyRole
from hub.rules.directory import Directory, agency_from_entry, apply_entry, entry_from_agency
from hub.runtime.config_files import ConfigError
from hub.runtime.settings import get_settings

NOW = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory.load(get_settings().config_dir)


def test_every_agency_round_trips_through_a_directory_record(directory: Directory) -> None:
    for agency in directory:
        assert agency_from_entry(entry_from_agency(agency, NOW)) == agency


def test_providers_are_searched_from_the_departement_outwards(directory: Directory) -> None:
    near = [a.id for a in directory.near(AgencyRole.ACCOMMODATION_PROVIDER, "93")]
    assert near == ["hebergement-93", "hebergement-95", "reseau-national-eloignement"]


def test_a_directory_record_changes_the_snapshot_not_the_old_one(directory: Directory) -> None:
    agency = directory.get("hebergement-93")
    assert agency is not None
    closed = entry_from_agency(agency.model_copy(update={"accepting": False}), NOW)
    changed = apply_entry(directory, closed)
    assert changed.get("hebergement-93").accepting is False  # type: ignore[union-attr]
    assert directory.get("hebergement-93").accepting is True  # type: ignore[union-attr]
    removed = apply_entry(changed, entry_from_agency(agency, NOW, removed=True))
    assert removed.get("hebergement-93") is None


def test_a_broken_directory_file_is_refused_with_the_field(tmp_path: Path) -> None:
    (tmp_path / "directory.yaml").write_text(
        "agencies:\n  - id: Bad Id\n    name: x\n    role: POLICE_GENDARMERIE\n"
    )
    (tmp_path / "regions.yaml").write_text("IDF: ['93']\n")
    with pytest.raises(ConfigError) as caught:
        Directory.load(tmp_path)
    assert "agencies.0.id" in str(caught.value)
