"""Reports from the public: anyone who witnessed exploitation, through the public page.

A ``WitnessReport`` is published by the public intake (``connectors/public_report``) and
routed to the designated triage body, which turns it into a ``PresumedVictimReport`` or
closes it (docs/WITNESS_REPORTS.md). A ``WitnessReportAddendum`` is what the reporter adds
later with their reference, on the same case. What was seen is exploitation_details data and
the reporter's contact is contact data: both are sealed wherever they persist.
"""

from hub.contracts.enums import Departement, ExploitationType, Seq, Urgency
from hub.contracts.envelope import Event


class WitnessReport(Event):
    """What someone saw, where, and whether a person is in immediate danger."""

    departement: Departement
    urgency: Urgency
    immediate_danger: bool = False
    minor_suspected: bool = False
    exploitation_types: Seq[ExploitationType] = ()
    language: str = "fr"
    anonymous: bool = True
    what_was_seen: str | None = None
    place: str | None = None
    reporter_name: str | None = None
    reporter_contact: str | None = None


class WitnessReportAddendum(Event):
    """Information the reporter adds later with their reference (same case)."""

    what_was_seen: str | None = None
    reporter_contact: str | None = None
