"""The notice to the prosecutor (avis au procureur, Code de procédure pénale art. 40 al. 2).

A public official who learns of a crime or délit in their duties must notify the procureur
de la République without delay. When a report of trafficking reaches such officials through
the hub (``routing.yaml``: ``prosecutor_notice_by`` on the report's rule), the hub raises one
``ProsecutorNotice`` on their behalf, naming them, and routes it like any message: to the
parquet of the département (the ``JUSTICE`` agency), under the officials' legal duty
(``consent.yaml``: ``public-official-duty``). A report held for consent reached nobody yet:
it raises its notice when consent releases it (``hub.flow.case_flow``), once per case.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    PresumedVictimReport,
    ProsecutorNotice,
)
from hub.flow.decisions import Deliver
from hub.rules.directory import Agency
from hub.rules.routing import RoutingRule

NOTICE = "fr.nrm.ProsecutorNotice"
REPORT = "fr.nrm.PresumedVictimReport"
NOTICE_NAMESPACE = uuid.UUID("0b5e4a52-3c3d-4f0a-9e40-6370703430aa")


def officials_reached(rule: RoutingRule, deliveries: Sequence[Deliver]) -> list[Agency]:
    """The agencies bound to notify that received the report, in delivery order."""
    seen: dict[str, Agency] = {}
    for delivery in deliveries:
        if delivery.recipient.role in rule.prosecutor_notice_by:
            seen.setdefault(delivery.recipient.id, delivery.recipient)
    return list(seen.values())


def notice_for(
    report: PresumedVictimReport, record: Mapping[str, Any], officials: Sequence[Agency]
) -> ProsecutorNotice:
    """The notice of ``report`` on behalf of ``officials`` (same event id if raised again)."""
    base = report.envelope.event_id
    return ProsecutorNotice(
        envelope=Envelope(
            event_id=uuid.uuid5(NOTICE_NAMESPACE, f"{base}/cpp-40"),
            case_id=report.envelope.case_id,
            occurred_at=report.envelope.occurred_at,
            causation_id=base,
            correlation_id=report.envelope.case_id,
        ),
        report_event_id=base,
        notifying_agencies=tuple(a.id for a in officials),
        departement=record.get("departement") or report.departement,
        minor_suspected=report.minor_suspected,
        exploitation_types=report.exploitation_types,
        person=report.person,
        exploitation=report.exploitation,
    )
