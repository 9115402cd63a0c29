"""The agency directory: who the agencies are, what they serve, and the keys that prove them.

A ``Directory`` is an immutable snapshot. It is loaded from ``deploy/config/directory.yaml``
and changed at runtime by records on the directory topic: each change yields a new snapshot,
so a routing decision always sees one consistent directory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hub.contracts.enums import AgencyRole, Departement, ExploitationType, Gender, Specialism
from hub.contracts.hub_records import (
    DirectoryEntry,
    SigningKeyEntry,
)
from hub.runtime.config_files import load_config, read_yaml

AgencyId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
"""An agency id: lowercase letters, digits and dashes (it names the agency's topics)."""

DIRECTORY_FILE = "directory.yaml"
REGIONS_FILE = "regions.yaml"


SPECIALISM_FOR_EXPLOITATION: Mapping[ExploitationType, Specialism] = {
    ExploitationType.LABOUR: Specialism.LABOUR_EXPLOITATION,
    ExploitationType.SEXUAL: Specialism.SEXUAL_EXPLOITATION,
    ExploitationType.DOMESTIC_SERVITUDE: Specialism.DOMESTIC_SERVITUDE,
    ExploitationType.FORCED_CRIMINALITY: Specialism.FORCED_CRIMINALITY,
    ExploitationType.FORCED_BEGGING: Specialism.FORCED_BEGGING,
    ExploitationType.FORCED_MARRIAGE: Specialism.FORCED_MARRIAGE,
}


class SigningKey(BaseModel):
    """An Ed25519 public key an agency signs with; a current and a next key allow rotation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: str = Field(min_length=1, max_length=64)
    public_key: str = Field(description="Raw 32-byte Ed25519 public key, base64.")
    valid_from: datetime | None = None
    valid_until: datetime | None = None


class Agency(BaseModel):
    """One agency of the NRM and what it serves."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: AgencyId
    name: str
    role: AgencyRole
    departements: tuple[Departement, ...] = ()
    national: bool = Field(
        default=False, description="Serves the whole territory (e.g. remote placement network)."
    )
    specialisms: frozenset[Specialism] = frozenset()
    genders: frozenset[Gender] = Field(
        default=frozenset(), description="Genders accepted (accommodation); empty: all."
    )
    languages: tuple[str, ...] = ()
    capacity: int | None = Field(default=None, ge=0, description="Free places, if it counts.")
    accepting: bool = True
    supervisor: AgencyId | None = Field(
        default=None, description="The coordinator escalations go to before national level."
    )
    signing_keys: tuple[SigningKey, ...] = ()

    def serves(self, departement: str) -> bool:
        """True when the agency covers ``departement`` (national agencies cover all)."""
        return self.national or departement in self.departements


class DirectoryFile(BaseModel):
    """The shape of ``directory.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    secrecy_bound_roles: frozenset[AgencyRole] = Field(
        default=frozenset(),
        description="Roles whose members are bound by professional secrecy (Code pénal "
        "226-13): as reporters they need an adult's consent to share (226-14).",
    )
    agencies: tuple[Agency, ...]


class Directory:
    """An immutable snapshot of the agencies, with the département → région map."""

    def __init__(
        self,
        agencies: Iterable[Agency],
        regions: Mapping[str, str],
        secrecy_bound_roles: frozenset[AgencyRole] = frozenset(),
    ) -> None:
        self._agencies: dict[str, Agency] = {agency.id: agency for agency in agencies}
        self._regions = dict(regions)
        self.secrecy_bound_roles = secrecy_bound_roles

    @classmethod
    def load(cls, config_dir: Path) -> Directory:
        """Load and validate ``directory.yaml`` and ``regions.yaml`` from ``config_dir``."""
        parsed = load_config(config_dir / DIRECTORY_FILE, DirectoryFile)
        regions_raw = read_yaml(config_dir / REGIONS_FILE)
        regions = {dep: region for region, deps in regions_raw.items() for dep in deps}
        return cls(parsed.agencies, regions, parsed.secrecy_bound_roles)

    def __iter__(self) -> Iterator[Agency]:
        return iter(self._agencies.values())

    def __len__(self) -> int:
        return len(self._agencies)

    def get(self, agency_id: str) -> Agency | None:
        """The agency with this id, if it is in the directory."""
        return self._agencies.get(agency_id)

    def bound_by_secrecy(self, role: AgencyRole) -> bool:
        """Whether members of ``role`` are bound by professional secrecy."""
        return role in self.secrecy_bound_roles

    def region_of(self, departement: str) -> str | None:
        """The région of a département."""
        return self._regions.get(departement)

    def with_agency(self, agency: Agency) -> Directory:
        """A new snapshot where ``agency`` is added or replaced."""
        return Directory(
            [*self._without(agency.id), agency], self._regions, self.secrecy_bound_roles
        )

    def without_agency(self, agency_id: str) -> Directory:
        """A new snapshot where ``agency_id`` is removed."""
        return Directory(self._without(agency_id), self._regions, self.secrecy_bound_roles)

    def _without(self, agency_id: str) -> list[Agency]:
        return [a for a in self._agencies.values() if a.id != agency_id]

    def by_role(self, role: AgencyRole) -> list[Agency]:
        """Agencies with ``role``, sorted by id (a stable order for tie-breaking)."""
        return sorted((a for a in self._agencies.values() if a.role is role), key=lambda a: a.id)

    def near(self, role: AgencyRole, departement: str) -> list[Agency]:
        """Agencies with ``role`` in widening circles: the département, then its région, then
        national agencies. Each agency appears once, in the first circle that contains it."""
        candidates = self.by_role(role)
        region = self.region_of(departement)
        local = [a for a in candidates if not a.national and departement in a.departements]
        regional = [
            a
            for a in candidates
            if not a.national
            and a not in local
            and region is not None
            and any(self.region_of(d) == region for d in a.departements)
        ]
        national = [a for a in candidates if a.national]
        return [*local, *regional, *national]


def agency_from_entry(entry: DirectoryEntry) -> Agency:
    """The agency a directory-topic record describes."""
    return Agency(
        id=entry.agency_id,
        name=entry.name,
        role=entry.role,
        departements=tuple(entry.departements),
        national=entry.national,
        specialisms=frozenset(s for s in entry.specialisms if s is not Specialism.UNKNOWN),
        genders=frozenset(g for g in entry.genders if g is not Gender.UNKNOWN),
        languages=tuple(entry.languages),
        capacity=entry.capacity,
        accepting=entry.accepting,
        supervisor=entry.supervisor,
        signing_keys=tuple(
            SigningKey(
                key_id=k.key_id,
                public_key=k.public_key,
                valid_from=k.valid_from,
                valid_until=k.valid_until,
            )
            for k in entry.signing_keys
        ),
    )


def entry_from_agency(
    agency: Agency, updated_at: datetime, *, removed: bool = False
) -> DirectoryEntry:
    """The directory-topic record for ``agency``."""
    return DirectoryEntry(
        agency_id=agency.id,
        updated_at=updated_at,
        removed=removed,
        name=agency.name,
        role=agency.role,
        departements=agency.departements,
        national=agency.national,
        specialisms=tuple(sorted(agency.specialisms)),
        genders=tuple(sorted(agency.genders)),
        languages=agency.languages,
        capacity=agency.capacity,
        accepting=agency.accepting,
        supervisor=agency.supervisor,
        signing_keys=tuple(
            SigningKeyEntry(
                key_id=k.key_id,
                public_key=k.public_key,
                valid_from=k.valid_from,
                valid_until=k.valid_until,
            )
            for k in agency.signing_keys
        ),
    )


def apply_entry(directory: Directory, entry: DirectoryEntry) -> Directory:
    """The directory after one directory-topic record (an update or a removal)."""
    if entry.removed:
        return directory.without_agency(entry.agency_id)
    return directory.with_agency(agency_from_entry(entry))
