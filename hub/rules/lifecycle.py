"""The case lifecycle: a state machine whose transitions are data (``lifecycle.yaml``), and
the rights pathway identification opens (``pathway.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.contracts.enums import PermitType
from hub.runtime.config_files import load_config

LIFECYCLE_FILE = "lifecycle.yaml"
PATHWAY_FILE = "pathway.yaml"
SAME: Literal["same"] = "same"


class CaseStatus(StrEnum):
    """Where a case is in the national referral mechanism."""

    NEW = "NEW"
    UNDER_IDENTIFICATION = "UNDER_IDENTIFICATION"
    IDENTIFIED = "IDENTIFIED"
    NOT_IDENTIFIED = "NOT_IDENTIFIED"
    SUPPORT_PATHWAY = "SUPPORT_PATHWAY"
    CLOSED = "CLOSED"


class Transition(BaseModel):
    """An event (with an outcome, for decisions) moving a case from some states to another."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    event: str
    outcome: str | None = None
    sources: frozenset[CaseStatus] = Field(alias="from")
    to: CaseStatus | Literal["same"]
    reopens: bool = False


@dataclass(frozen=True)
class Moved:
    """The case's next status (``reopens``: a closed or not-identified case comes back)."""

    status: CaseStatus
    reopens: bool = False


@dataclass(frozen=True)
class InvalidTransition:
    """The event cannot happen to a case in this status."""

    detail: str


class Lifecycle(BaseModel):
    """Every transition, validated from ``lifecycle.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transitions: tuple[Transition, ...]

    @classmethod
    def load(cls, config_dir: Path) -> Lifecycle:
        """Load and validate ``lifecycle.yaml``."""
        return load_config(config_dir / LIFECYCLE_FILE, cls)

    def governs(self, event: str) -> bool:
        """True when ``event`` moves cases (others are allowed in any status)."""
        return any(t.event == event for t in self.transitions)

    def move(
        self, status: CaseStatus, event: str, outcome: str | None = None
    ) -> Moved | InvalidTransition | None:
        """Where ``event`` takes a case in ``status``; None when the event moves no case."""
        if not self.governs(event):
            return None
        for transition in self.transitions:
            if (
                transition.event == event
                and status in transition.sources
                and transition.outcome in (None, outcome)
            ):
                target = status if transition.to == SAME else CaseStatus(transition.to)
                return Moved(target, transition.reopens)
        what = f"{event}" + (f" ({outcome})" if outcome else "")
        return InvalidTransition(f"{what} cannot happen to a case that is {status.value}")


class RaisedRequest(BaseModel):
    """A request identification raises, and when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request: Literal[
        "fr.nrm.AccommodationRequested", "fr.nrm.SupportRequested", "fr.nrm.PermitRequested"
    ]
    when: str
    permit_type: PermitType | None = None
    source: str = Field(min_length=3)


class PathwayPolicy(BaseModel):
    """What identification opens: the reflection period and the requests it raises."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reflection_period_days: int = Field(ge=30, description="At least 30 (Warsaw Convention).")
    reflection_period_source: str
    raise_: tuple[RaisedRequest, ...] = Field(alias="raise")

    @classmethod
    def load(cls, config_dir: Path) -> PathwayPolicy:
        """Load and validate ``pathway.yaml``."""
        return load_config(config_dir / PATHWAY_FILE, cls)

    def raises(self, request: str) -> RaisedRequest | None:
        """The entry for ``request``, if identification raises it."""
        return next((r for r in self.raise_ if r.request == request), None)
