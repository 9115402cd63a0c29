"""Assistance without conditions, on the real broker (issue 20 item 4; docs/LAW.md AS-1, AS-6).

Dir. 2011/36 art. 11(2)-(3) and Warsaw art. 12(6): assistance from reasonable grounds, never
conditional on cooperating. A report that assesses accommodation and support needs, with the
person's consent, sends both requests at once, before any identification decision; a negative
decision afterwards cancels neither: no withdrawal notice reaches the agencies, the requests
stay open, and the hub records the notice period (hub policy).
"""

from __future__ import annotations

import uuid

import pytest
from flow_helpers import consent_for, envelope, nothing_for, received_for
from test_case_lifecycle import labour_report, show
from worker_thread import AgencyFactory

from hub.contracts.enums import AgencyRole, IdentificationOutcome, NotIdentifiedReason
from hub.contracts.events import (
    AccommodationRequested,
    IdentificationDecision,
    PresumedVictimReport,
    SupportRequested,
)
from hub.runtime.settings import HubSettings

pytestmark = pytest.mark.usefixtures("worker")


async def test_a_report_with_needs_and_consent_sends_both_requests_and_a_no_cancels_neither(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    case_id = uuid.uuid4()
    association = await agency("association-93")
    inspectorate = await agency("inspection-travail-93")
    provider = await agency("hebergement-93")
    await association.publish(
        consent_for(  # an association's report needs consent too (CPP 40 binds officials)
            AgencyRole.ACCOMMODATION_PROVIDER,
            AgencyRole.SUPPORT_ASSOCIATION,
            AgencyRole.LABOUR_INSPECTORATE,
            case_id=case_id,
        )
    )
    report = labour_report(case_id)  # accommodation and social support assessed
    await association.publish(report)

    (housing,) = await received_for(provider, case_id, 1, timeout_s=20)
    assert isinstance(housing.event, AccommodationRequested)
    (support,) = await received_for(association, case_id, 1, timeout_s=20)
    assert isinstance(support.event, SupportRequested)
    (asked,) = await received_for(inspectorate, case_id, 1, timeout_s=20)
    assert isinstance(asked.event, PresumedVictimReport)
    before = await show(hub_settings, case_id)
    assert before["status"] == "UNDER_IDENTIFICATION"  # no decision was waited for

    await inspectorate.publish(
        IdentificationDecision(
            envelope=envelope(case_id),
            report_event_id=report.envelope.event_id,
            outcome=IdentificationOutcome.NOT_IDENTIFIED,
            not_identified_reason=NotIdentifiedReason.INSUFFICIENT_INDICATORS,
        )
    )
    (notice,) = await received_for(association, case_id, 1, timeout_s=20)
    assert isinstance(notice.event, IdentificationDecision)  # the reporter is told, no more
    await nothing_for(provider, case_id, for_s=2.0)  # no cancellation, no withdrawal notice
    after = await show(hub_settings, case_id)
    assert after["status"] == "NOT_IDENTIFIED"
    whats = {(r["what"], r["recipient"]) for r in after["open_requests"]}  # type: ignore[attr-defined]
    assert ("AccommodationRequested", "hebergement-93") in whats
    assert ("SupportRequested", "association-93") in whats
    assert after["pathway"]["assistance_notice_ends"] is not None  # type: ignore[index]
