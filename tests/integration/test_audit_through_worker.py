"""The audit trail the routing worker writes: a full referral flow replays in order, with its
actors and decisions; a prefecture's view hides health data; the chain verifies."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from flow_helpers import events_for, received_for
from typer.testing import CliRunner
from worker_thread import AgencyFactory

from hub.cli.app import app
from hub.contracts.events import (
    AccommodationRequested,
    ConsentGiven,
    PermitRequested,
    ReferralOpened,
)
from hub.runtime.settings import HubSettings

pytestmark = pytest.mark.usefixtures("worker")
runner = CliRunner()


async def test_a_referral_flow_replays_in_order_and_the_prefecture_sees_no_health(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    case_id = uuid.uuid4()
    story = events_for(case_id)
    police = await agency("police-93")
    association = await agency("association-93")
    prefecture = await agency("prefecture-93")
    await association.publish(story[ConsentGiven])
    await police.publish(story[ReferralOpened])
    await police.publish(story[AccommodationRequested])
    await police.publish(story[PermitRequested])
    assert len(await received_for(prefecture, case_id, 1, timeout_s=20)) == 1

    replayed = await asyncio.to_thread(
        runner.invoke, app, ["replay", str(case_id), "--json"], obj=hub_settings
    )
    assert replayed.exit_code == 0, replayed.output
    document = json.loads(replayed.stdout)
    entries = document["entries"]
    assert [e["seq"] for e in entries] == list(range(len(entries)))
    actions = [(e["actor"], e["action"]) for e in entries]
    # Records of different outboxes have no order between them: either sender may come first.
    assert actions[0] in {("association-93", "RECEIVED"), ("police-93", "RECEIVED")}
    assert ("association-93", "RECEIVED") in actions
    assert ("hub", "CONSENT_RECORDED") in actions
    assert ("police-93", "RECEIVED") in actions
    # Held until the consent arrives when the referral overtakes it (no cross-outbox order):
    # then the association's delivery is a RELEASED entry instead of a ROUTED one.
    routed = [e for e in entries if e["action"] in {"ROUTED", "RELEASED"} and e["recipient"]]
    assert {"association-93", "prefecture-93"} <= {e["recipient"] for e in routed}
    assert any("health" in json.dumps(e["payload"]) for e in entries if e.get("payload"))
    assert document["verification"]["ok"] is True

    as_prefecture = await asyncio.to_thread(
        runner.invoke,
        app,
        ["replay", str(case_id), "--as", "prefecture", "--json"],
        obj=hub_settings,
    )
    assert as_prefecture.exit_code == 0, as_prefecture.output
    redacted = json.loads(as_prefecture.stdout)["entries"]
    assert not any("health" in json.dumps(e.get("payload")) for e in redacted)

    verified = await asyncio.to_thread(
        runner.invoke, app, ["audit", "verify", str(case_id)], obj=hub_settings
    )
    assert verified.exit_code == 0, verified.output
