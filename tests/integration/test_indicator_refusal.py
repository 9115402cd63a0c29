"""A referral with an indicator code outside the shared grid, sent over Kafka by a signed
agency, is never routed: the worker writes a dead letter with UNKNOWN_INDICATOR and a detail
naming the code (real embedded broker over TCP)."""

from __future__ import annotations

import uuid

import pytest
from eventually import eventually
from flow_helpers import events_for, fresh, nothing_for, received_for
from worker_thread import AgencyFactory

from agents.redrive import list_dead_letters
from hub.contracts.enums import DeadLetterReason, ExploitationType
from hub.contracts.events import (
    ConsentGiven,
    ReferralOpened,
)
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.runtime.settings import HubSettings

pytestmark = pytest.mark.usefixtures("worker")


async def letter_for(settings: HubSettings, case_id: uuid.UUID) -> DeadLetter:
    async def letter() -> DeadLetter | None:
        return next((d for d in await list_dead_letters(settings) if d.case_id == case_id), None)

    return await eventually(letter, timeout_s=20, interval_s=0.5, what=f"dead letter of {case_id}")


async def test_an_unknown_indicator_code_is_dead_lettered_with_its_reason(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    police = await agency("police-93")
    association = await agency("association-93")
    case_id = uuid.uuid4()
    story = events_for(case_id)
    referral = fresh(story[ReferralOpened], case_id, indicator_codes=("ILO-FL-07", "TRAV-01"))
    await association.publish(story[ConsentGiven])
    await police.publish(referral)

    letter = await letter_for(hub_settings, case_id)
    assert letter.reason is DeadLetterReason.UNKNOWN_INDICATOR
    assert "'TRAV-01'" in letter.detail
    assert letter.event_id == referral.envelope.event_id
    assert letter.claimed_sender in (None, "police-93")

    await nothing_for(association, case_id, for_s=2)


async def test_a_form_specific_indicator_on_the_wrong_form_is_refused_and_on_its_form_routed(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    police = await agency("police-93")
    association = await agency("association-93")
    wrong, right = uuid.uuid4(), uuid.uuid4()
    labour_only = fresh(events_for(wrong)[ReferralOpened], wrong, indicator_codes=("UNODC-SX-02",))
    sexual = fresh(
        events_for(right)[ReferralOpened],
        right,
        indicator_codes=("UNODC-SX-02",),
        exploitation_types=(ExploitationType.LABOUR, ExploitationType.SEXUAL),
    )
    await association.publish(events_for(right)[ConsentGiven])
    await police.publish(labour_only)
    await police.publish(sexual)

    letter = await letter_for(hub_settings, wrong)
    assert letter.reason is DeadLetterReason.INDICATOR_FORM_MISMATCH
    assert "UNODC-SX-02 is specific to SEXUAL" in letter.detail
    delivered = await received_for(association, right, 1, timeout_s=20)
    assert [type(m.event) for m in delivered] == [ReferralOpened]
    assert delivered[0].event.indicator_codes == ("UNODC-SX-02",)
