"""Legal holds: what stops an approved erasure, so the case's processing is restricted instead.

GDPR art. 17(3) lists when the right to erasure does not apply: among them a legal obligation
or a task in the public interest (b), archiving in the public interest (d), and "the
establishment, exercise or defence of legal claims" (e). The hub cannot know every such case;
it knows what its case state shows, and what the data-protection officer declares. The holds
are data (``deploy/config/legal_holds.yaml``), each with its source, and of three kinds:

- ``open_request``: the case has an open request of one of ``subjects`` (a permit file the
  prefecture has not decided: the decision needs the data);
- ``shared_with_roles``: the case, not closed, was shared with an agency of one of ``roles``
  (police, prosecutors: proceedings may be open);
- ``declared``: the data-protection officer names it when approving (a statutory archive
  duty the hub cannot see).

A declared hold id the policy does not know still holds (fail safe: restriction can be lifted,
an erasure cannot be undone).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.contracts.enums import AgencyRole
from hub.runtime.config_files import load_config

HOLDS_FILE: Final = "legal_holds.yaml"


class LegalHold(BaseModel):
    """One kind of legal hold, with the text it comes from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[A-Z][A-Z0-9_]{2,63}$")
    when: Literal["open_request", "shared_with_roles", "declared"]
    subjects: frozenset[str] = frozenset()
    roles: frozenset[AgencyRole] = frozenset()
    source: str = Field(min_length=1)


class HoldPolicy(BaseModel):
    """Every legal hold the hub checks (``legal_holds.yaml``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    holds: tuple[LegalHold, ...] = ()

    @classmethod
    def load(cls, config_dir: Path) -> HoldPolicy:
        """The policy of ``config_dir/legal_holds.yaml`` (ConfigError naming each problem)."""
        return load_config(config_dir / HOLDS_FILE, cls)

    def known(self, hold_id: str) -> bool:
        """Whether ``hold_id`` is a hold of this policy."""
        return any(h.id == hold_id for h in self.holds)


@dataclass(frozen=True)
class CaseHoldFacts:
    """What the holds read of a case: open requests' subjects, recipients' roles, closed."""

    open_request_subjects: frozenset[str]
    recipient_roles: frozenset[AgencyRole]
    closed: bool


def holds_on(case: CaseHoldFacts, declared: Iterable[str], policy: HoldPolicy) -> tuple[str, ...]:
    """The ids of the holds that apply to ``case`` (empty: it may be erased), sorted."""
    found: set[str] = {d for d in declared if d.strip()}
    for hold in policy.holds:
        if hold.when == "open_request" and case.open_request_subjects & hold.subjects:
            found.add(hold.id)
        if (
            hold.when == "shared_with_roles"
            and not case.closed
            and case.recipient_roles & hold.roles
        ):
            found.add(hold.id)
    return tuple(sorted(found))
