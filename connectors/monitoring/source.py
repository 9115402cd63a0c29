"""Reading the topics for the monitoring figures (thin): the events the router has finished
with, read exactly as the observatory export reads them (``read_routed``), and the audit
trail (``nrm.audit``), decoded; the figures are ``hub.rules.monitoring``'s."""

from __future__ import annotations

import contextlib

from agents.io.reader import read_topics
from connectors.observatory_export import read_routed
from hub.contracts.codec import Codec, CodecError
from hub.contracts.hub_records import AuditEntry
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import AUDIT
from hub.rules.case_facts import Period
from hub.rules.lifecycle import Lifecycle
from hub.rules.monitoring import Figures, Sent, figures
from hub.runtime.clock import clock_from
from hub.runtime.settings import HubSettings


async def read_audit(settings: HubSettings, codec: Codec) -> list[AuditEntry]:
    """Every audit entry on ``nrm.audit`` up to its high watermark (only the clear fields are
    used: action, decision, recipient, instants; the personal data stays sealed)."""
    entries = []
    for record in await read_topics(settings, [AUDIT.name]):
        with contextlib.suppress(CodecError):
            entry = codec.decode_event(record.value or b"")
            if isinstance(entry, AuditEntry):
                entries.append(entry)
    return entries


async def read_figures(settings: HubSettings, period: Period, threshold: int) -> Figures:
    """The period's figures from the broker, suppressed at ``threshold``; "now" is the hub's
    business clock (a simulated one in the demo)."""
    codec = Codec(
        SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
    )
    routed = await read_routed(settings)
    entries = await read_audit(settings, codec)
    directory = routed.directory

    clock = clock_from(settings.clock_start, settings.clock_anchor, settings.clock_speed)
    return figures(
        (Sent(i.sender.role, i.event) for i in routed.inbound),
        entries,
        period,
        now=clock(),
        kind_of=lambda agency_id: a.role if (a := directory.get(agency_id)) else None,
        lifecycle=Lifecycle.load(settings.config_dir),
        threshold=threshold,
    )
