"""The case lifecycle: a state machine whose transitions are data (``lifecycle.yaml``), and
the rights pathway (``pathway.yaml``): unconditional assistance, the routes the person may
choose, the reflection period."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.contracts.enums import PermitType, RightsTopic
from hub.rules.derived_values import DerivedOnce
from hub.runtime.config_files import load_config

LIFECYCLE_FILE = "lifecycle.yaml"
PATHWAY_FILE = "pathway.yaml"
SAME: Literal["same"] = "same"


class CaseStatus(StrEnum):
    """Where a case is in the national referral mechanism."""

    NEW = "NEW"
    UNDER_IDENTIFICATION = "UNDER_IDENTIFICATION"
    REASONABLE_GROUNDS = "REASONABLE_GROUNDS"
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


class Lifecycle(DerivedOnce):
    """Every transition, validated from ``lifecycle.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transitions: tuple[Transition, ...]

    @classmethod
    def load(cls, config_dir: Path) -> Lifecycle:
        """Load and validate ``lifecycle.yaml``."""
        return load_config(config_dir / LIFECYCLE_FILE, cls)

    @cached_property
    def _by_event(self) -> dict[str, tuple[Transition, ...]]:
        """The transitions of each event, in file order: built on first use (read on every
        event; a cached property, where a pydantic private attribute is slow to read)."""
        by_event: dict[str, list[Transition]] = {}
        for transition in self.transitions:
            by_event.setdefault(transition.event, []).append(transition)
        return {event: tuple(transitions) for event, transitions in by_event.items()}

    def governs(self, event: str) -> bool:
        """True when ``event`` moves cases (others are allowed in any status)."""
        return event in self._by_event

    def move(
        self, status: CaseStatus, event: str, outcome: str | None = None
    ) -> Moved | InvalidTransition | None:
        """Where ``event`` takes a case in ``status``; None when the event moves no case."""
        transitions = self._by_event.get(event)
        if transitions is None:
            return None
        for transition in transitions:
            if status in transition.sources and transition.outcome in (None, outcome):
                target = status if transition.to == SAME else CaseStatus(transition.to)
                return Moved(target, transition.reopens)
        what = f"{event}" + (f" ({outcome})" if outcome else "")
        return InvalidTransition(f"{what} cannot happen to a case that is {status.value}")


class AssistanceRequest(BaseModel):
    """An assistance request the hub raises from assessed needs, before any identification."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request: Literal["fr.nrm.AccommodationRequested", "fr.nrm.SupportRequested"]
    when: str
    source: str = Field(min_length=3)


class Route(BaseModel):
    """A route of the pathway: what the person may ask for (``permit_types``) or only be
    informed of (none), on which condition, on which text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    topic: RightsTopic
    permit_types: tuple[PermitType, ...] = ()
    condition: str
    source: str = Field(min_length=3)


class PathwayPolicy(BaseModel):
    """The rights pathway: unconditional assistance, the routes, the reflection period."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reflection_period_days: int = Field(ge=30, description="At least 30 (Warsaw Convention).")
    reflection_period_source: str
    negative_decision_notice_days: int = Field(ge=0)
    negative_decision_notice_source: str
    assistance: tuple[AssistanceRequest, ...]
    routes: tuple[Route, ...]

    @classmethod
    def load(cls, config_dir: Path) -> PathwayPolicy:
        """Load and validate ``pathway.yaml``."""
        return load_config(config_dir / PATHWAY_FILE, cls)

    def raises(self, request: str) -> AssistanceRequest | None:
        """The entry for ``request``, if assessed needs raise it."""
        return next((r for r in self.assistance if r.request == request), None)

    def route_for(self, permit_type: PermitType) -> Route | None:
        """The route a person's choice of ``permit_type`` belongs to (None: no route asks
        the prefecture for it)."""
        return next((r for r in self.routes if permit_type in r.permit_types), None)
