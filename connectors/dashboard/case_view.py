"""A case's page: its replayed audit timeline, as national coordination may see it, verified.

Uses the audit helper's public functions only: the dashboard's own case index
(``agents.audit_index``: catch up, then read exactly the case's offsets), ``hub.audit.verify.
verify`` with the index head as anchor, ``hub.audit.replay.timeline`` decrypting with the key
store, and ``redact`` to the categories the audit helper's visibility gives
NATIONAL_COORDINATION (``AuditVisibility.from_policy`` over the consent policy: national
coordination audits cases and sees every category). Entries the hub did not sign
(``agents.audit_index.hub_proof``) are named among the problems and left out of the timeline.
The rows are listed in business-time order (``business_order``), the chain's seq breaking ties.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from uuid import UUID

from agents.audit_index.hub_proof import hub_proof
from agents.audit_index.indexer import catch_up
from agents.audit_index.reading import fetch_case_records
from agents.audit_index.store import AuditIndex
from connectors.dashboard import french
from hub.audit.keys import KeyStore
from hub.audit.replay import (
    AuditVisibility,
    PayloadState,
    TimelineRow,
    left_out,
    redact,
    timeline,
)
from hub.audit.verify import VerificationReport, verify
from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole
from hub.contracts.topics import AUDIT
from hub.rules.consent import ConsentPolicy
from hub.rules.directory import Directory
from hub.runtime.settings import HubSettings

OPERATOR_ROLE: Final = AgencyRole.NATIONAL_COORDINATION
CATCH_UP_TIMEOUT_S: Final = 5.0
FETCH_TIMEOUT_S: Final = 10.0
HUB_NAMES: Final = {"hub": "Hub (traitement automatique)"}


@dataclass(frozen=True)
class TimelineItem:
    """One row of the case page."""

    seq: int
    recorded_at: str
    recorded_text: str
    actor: str
    actor_role: str
    action: str
    action_text: str
    decision: str
    legal_basis: str
    recipient: str
    categories_text: str
    payload_state: str
    payload_text: str | None


@dataclass(frozen=True)
class CaseReplay:
    """The case's timeline and the verification of its chain."""

    case_id: UUID
    items: list[TimelineItem]
    verified: bool
    records: int
    duplicates: int
    problems: list[str]
    role_text: str
    left_out: int = 0
    """Entries not signed by the hub: named among the problems, absent from ``items``."""


def operator_categories(config_dir: Path) -> AuditVisibility:
    """Role visibility as the audit helper derives it from ``consent.yaml`` (what operators
    may see is ``.allowed(OPERATOR_ROLE)``)."""
    return AuditVisibility.from_policy(ConsentPolicy.load(config_dir))


async def replay_case(
    settings: HubSettings,
    index_path: Path,
    codec: Codec,
    key_store: KeyStore,
    visibility: AuditVisibility,
    directory: Directory,
    case_id: UUID,
) -> CaseReplay:
    """Catch the index up (bounded), read the case's entries, verify (chain and the hub's
    signature), decrypt and redact."""
    prove = hub_proof(settings)
    index = AuditIndex(index_path, AUDIT.name)
    try:
        await catch_up(settings, index, codec, timeout_s=CATCH_UP_TIMEOUT_S)
        records = await fetch_case_records(
            settings, index, case_id, codec, prove=prove, timeout_s=FETCH_TIMEOUT_S
        )
        head = index.head(case_id)
    finally:
        index.close()
    report = verify(records, heads={case_id: head} if head else None)
    rows = redact(timeline(records, key_store), visibility.allowed(OPERATOR_ROLE))
    return CaseReplay(
        case_id=case_id,
        items=[_item(row, directory) for row in business_order(rows)],
        verified=report.ok and bool(records),
        records=report.records,
        duplicates=len(report.duplicates),
        problems=_problems(report),
        role_text=french.label(french.ROLES, OPERATOR_ROLE),
        left_out=len(left_out(records)),
    )


def business_order(rows: Iterable[TimelineRow]) -> list[TimelineRow]:
    """A case's rows by the instant each was recorded on the hub's clock, then by seq.

    Every entry's ``recorded_at`` is on the hub's clock (a received event's is its broker
    timestamp put on that clock, a deadline tick's is the clock's own reading), so under a
    simulated clock this is business-time order. It can differ from the chain's order: a tick
    processed just before a record that the broker had already taken is recorded later than
    that record. Equal instants (one event's entries) keep the chain's order."""
    return sorted(rows, key=lambda row: (row.recorded_at, row.seq))


def _problems(report: VerificationReport) -> list[str]:
    return [
        f"{french.label(french.VERIFICATION_PROBLEMS, p.kind)}"
        + (f" (entrée {p.seq})" if p.seq is not None else "")
        + f" : {p.detail}"
        for p in report.problems
    ]


def _item(row: TimelineRow, directory: Directory) -> TimelineItem:
    agency = directory.get(row.actor)
    recipient = directory.get(row.recipient) if row.recipient else None
    if row.payload_state is PayloadState.ERASED:
        payload_text: str | None = "Données effacées (droit à l'effacement)"
    elif row.payload_state is PayloadState.UNREADABLE:
        payload_text = "Données illisibles (chiffré altéré)"
    elif row.payload:
        payload_text = json.dumps(row.payload, ensure_ascii=False, sort_keys=True, indent=1)
    else:
        payload_text = None
    return TimelineItem(
        seq=row.seq,
        recorded_at=row.recorded_at.isoformat(),
        recorded_text=french.format_datetime(row.recorded_at),
        actor=agency.name if agency is not None else HUB_NAMES.get(row.actor, row.actor),
        actor_role=french.label(french.ROLES, row.actor_role),
        action=row.action.value,
        action_text=french.label(french.AUDIT_ACTIONS, row.action),
        decision=" — ".join(v for v in (row.decision, row.reason) if v) or "—",
        legal_basis=row.legal_basis or "—",
        recipient=(recipient.name if recipient else row.recipient) if row.recipient else "—",
        categories_text=", ".join(french.label(french.DATA_CATEGORIES, c) for c in row.categories)
        or "—",
        payload_state=row.payload_state.value,
        payload_text=payload_text,
    )
