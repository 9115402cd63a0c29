"""Erasure commands as the flow receives them (``nrm.erasure``, signed by the hub), and a case
routed through the example story: shared by the erasure, expiry and restriction tests."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flow_helpers import (
    NOW,
    codec,
    context,
    envelope,
    inbound,
    prefecture_consent,
)

from hub.contracts.enums import AuditAction
from hub.contracts.erasure_events import (
    ErasureApproved,
    ErasureRejected,
    ErasureRequested,
    RestrictionLifted,
    RetentionExpiry,
)
from hub.contracts.examples import example_events
from hub.contracts.partitioning import case_partition
from hub.contracts.topics import ERASURE
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState
from hub.flow.decisions import Context, Inbound, Outcome
from hub.flow.ingest import RawRecord, ingest
from hub.rules.holds import HoldPolicy
from hub.rules.indicators import IndicatorGrid
from hub.rules.roles import OperatorRoster
from hub.runtime.retention import RetentionSchedule
from hub.runtime.settings import get_settings
from hub.trust.hub_keys import hub_public_keys
from hub.trust.signing import HubSigner, RecordSigner

SETTINGS = get_settings()
HUB_KEYS = hub_public_keys(SETTINGS.config_dir)
GRID = IndicatorGrid.load(SETTINGS.config_dir)


PERIOD = RetentionSchedule.load(SETTINGS.config_dir).personal_data_of_cases.period


def erasure_context() -> Context:
    """The decision context with the operators, holds and retention period of deploy/config."""
    base = context()
    config = SETTINGS.config_dir
    return Context(
        **{
            **base.__dict__,
            "operators": OperatorRoster.load(config),
            "holds": HoldPolicy.load(config),
            "retention_period": PERIOD,
        }
    )


Command = ErasureRequested | ErasureApproved | ErasureRejected | RetentionExpiry | RestrictionLifted


def command_record(event: Command, signer: RecordSigner) -> RawRecord:
    case_id = event.envelope.case_id
    key, value = str(case_id).encode(), codec().encode_event(event)
    headers = signer.sign(ERASURE.name, key, value)
    return RawRecord(
        topic=ERASURE.name,
        partition=case_partition(case_id, 4),
        offset=0,
        key=key,
        value=value,
        timestamp_ms=int(NOW.timestamp() * 1000),
        headers=tuple((n, v or b"") for n, v in headers),
    )


def hub_signer() -> HubSigner:
    return HubSigner.from_pem(SETTINGS.signing_key_path, SETTINGS.signing_key_id)


def command(event: Command, ctx: Context) -> Inbound:
    result = ingest(
        command_record(event, hub_signer()),
        codec(),
        ctx.directory,
        None,
        four_partitions,
        hub_keys=HUB_KEYS,
        indicators=GRID,
    )
    assert isinstance(result, Inbound), result
    return result


def four_partitions(_topic: str) -> int:
    return 4


def request(case_id: uuid.UUID, by: str = "operatrice.demo") -> ErasureRequested:
    return ErasureRequested(
        envelope=envelope(case_id),
        request_id=uuid.uuid4(),
        requested_by=by,
        reason="demande de la personne du 19/11/2026",
    )


def approval(
    asked: ErasureRequested, by: str = "dpo.demo", holds: tuple[str, ...] = ()
) -> ErasureApproved:
    return ErasureApproved(
        envelope=envelope(asked.envelope.case_id),
        request_id=asked.request_id,
        approved_by=by,
        declared_holds=holds,
    )


def routed(ctx: Context, upto: type, _sender: str = "") -> CaseState:
    """A new case through the example story (examples.py) up to the first delivery of an
    ``upto``: the report, the consent, then accommodation, support and (for PermitRequested)
    the person's recorded choice, which raises the permit request."""
    case_id = uuid.uuid4()
    state = CaseState(case_id=case_id)
    # the person's consent for the prefecture; her choice is in the story
    consent = prefecture_consent(case_id)
    state = handle(state, inbound(consent, "association-93", ctx, 99), ctx, NOW).state
    subject = f"fr.nrm.{upto.__name__}"
    for offset, (sender, event) in enumerate(example_events(case_id)):
        outcome = handle(state, inbound(event, sender, ctx, offset), ctx, NOW)
        state = outcome.state
        if any(d.subject == subject for d in outcome.deliveries):
            return state
    raise AssertionError(f"no {upto.__name__} delivered in the example story")


def step(state: CaseState, event: Command, ctx: Context) -> Outcome:
    return handle(state, command(event, ctx), ctx, NOW + timedelta(minutes=1))


def actions(outcome: Outcome) -> list[tuple[AuditAction, str]]:
    return [(n.action, n.decision) for n in outcome.audit]
