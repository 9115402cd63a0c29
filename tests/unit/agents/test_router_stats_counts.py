"""What the worker's stats count per outcome, as a table: each write by topic and type, each
audit entry by action, the deliveries and the held messages (the metrics export these)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from agents.hooks import HookChain
from agents.stats import RouterStats
from hub.contracts.enums import AgencyRole, AuditAction
from hub.flow.case_state import CaseState
from hub.flow.decisions import AuditNote, Deliver, Outcome, Publish
from hub.rules.directory import Agency

STATE = CaseState(case_id=uuid.uuid4())
PREFECTURE = Agency(id="prefecture-93", name="Préfecture 93", role=AgencyRole.PREFECTURE)
POLICE = Agency(id="police-93", name="Police 93", role=AgencyRole.POLICE_GENDARMERIE)
HELD = AuditNote(AuditAction.HELD, "held")
RECEIVED = AuditNote(AuditAction.RECEIVED, "received")
ROUTED = AuditNote(AuditAction.ROUTED, "routed")


def deliver(to: Agency, subject: str = "fr.nrm.PermitRequested") -> Deliver:
    return Deliver(to, subject, {}, frozenset(), "test")


@dataclass(frozen=True)
class Case:
    name: str
    outcome: Outcome
    events_out: dict[tuple[str, str], int]
    audit_actions: dict[str, int]
    delivered: int
    held: int


CASES = [
    Case(
        "nothing written but its audit entry",
        Outcome(state=STATE, audit=(RECEIVED,)),
        {("nrm.audit", "fr.nrm.AuditEntry"): 1},
        {"RECEIVED": 1},
        0,
        0,
    ),
    Case(
        "two deliveries to one inbox, one to another, of two types",
        Outcome(
            state=STATE,
            deliveries=(
                deliver(PREFECTURE),
                deliver(PREFECTURE),
                deliver(POLICE, "fr.nrm.Acknowledgement"),
            ),
            audit=(RECEIVED, ROUTED, ROUTED),
        ),
        {
            ("nrm.inbox.prefecture-93", "fr.nrm.PermitRequested"): 2,
            ("nrm.inbox.police-93", "fr.nrm.Acknowledgement"): 1,
            ("nrm.audit", "fr.nrm.AuditEntry"): 3,
        },
        {"RECEIVED": 1, "ROUTED": 2},
        3,
        0,
    ),
    Case(
        "a hub record published and two messages held",
        Outcome(
            state=STATE,
            published=(Publish("nrm.escalations", "fr.nrm.Escalation", {}),),
            audit=(HELD, RECEIVED, HELD),
        ),
        {("nrm.escalations", "fr.nrm.Escalation"): 1, ("nrm.audit", "fr.nrm.AuditEntry"): 3},
        {"HELD": 2, "RECEIVED": 1},
        0,
        2,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_outcome_is_counted_by_what_it_wrote(case: Case) -> None:
    stats = RouterStats()
    hooks = HookChain([stats])
    for _twice in range(2):  # counts add up: the second outcome counts on the first's
        hooks.decided(case.outcome)
        hooks.outcome_applied(case.outcome, case.outcome.audit)
    assert stats.events_out == {key: 2 * n for key, n in case.events_out.items()}
    assert stats.audit_actions == {key: 2 * n for key, n in case.audit_actions.items()}
    assert (stats.delivered, stats.held, stats.routed) == (2 * case.delivered, 2 * case.held, 2)
