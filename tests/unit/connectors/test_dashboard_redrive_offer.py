"""The dashboard offers « Relancer » only where a fix can help (issue 22, finding 7): never
for a forged, unsigned or altered record, which the same bytes would refuse again."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import jinja2
import pytest

import connectors.dashboard
from connectors.dashboard.read_model import DeadLetterItem
from connectors.dashboard.views import dead_letter_rows
from hub.audit.sealing import MAGIC
from hub.contracts.enums import DeadLetterReason
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.flow.sealed_letters import CUT_NOTE, MAX_ORIGINAL_BYTES

TEMPLATES = Path(connectors.dashboard.__file__).parent / "templates"


def letter(
    reason: str,
    *,
    claimed: str | None = None,
    original: bytes = b"x" * 700,
    detail: str = "d",
    hub_signed: bool = True,
) -> DeadLetterItem:
    """The dashboard's item, built from a dead letter as the read model builds it."""
    dead = DeadLetter(
        dead_letter_id=uuid4(),
        occurred_at=datetime(2026, 12, 6, 9, 30, tzinfo=UTC),
        reason=DeadLetterReason(reason),
        detail=detail,
        original=original,
        source_topic="nrm.outbox.police-93",
        source_partition=0,
        source_offset=7,
        case_id=uuid4(),
        event_id=uuid4(),
        claimed_sender=claimed,
    )
    return DeadLetterItem.of(dead, partition=0, offset=1, hub_signed=hub_signed)


def rendered(items: list[DeadLetterItem]) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    template = env.get_template("_overview.html")
    return template.render(
        overdue=[],
        holds=[],
        orphans=[],
        dead_letters=dead_letter_rows(items),
        redriven=0,
        dropped=0,
        csrf="t",
        permissions={"REDRIVE"},  # an operator whose role may re-drive (hub/rules/roles.py)
    )


def buttons(html: str) -> set[str]:
    """Dead-letter ids whose row carries a re-drive form."""
    return set(re.findall(r'action="/lettres-mortes/([0-9a-f-]+)/relance"', html))


@pytest.mark.parametrize(
    ("item", "offered"),
    [
        (letter("BAD_SIGNATURE"), False),  # unsigned, altered or forged
        (letter("SPOOFED_SENDER", claimed="police-75"), False),  # names another agency
        (letter("REPLAYED"), False),
        (letter("CORRUPT_FRAME"), False),
        (letter("OVERSIZE", original=b"x" * MAX_ORIGINAL_BYTES), False),  # cut: cannot verify
        (letter("OVERSIZE", detail=f"big {CUT_NOTE}"), False),  # cut, then sealed
        (letter("NO_ELIGIBLE_RECIPIENT", original=b""), False),  # not kept: case erased
        (letter("NO_ELIGIBLE_RECIPIENT", original=MAGIC + b"x" * MAX_ORIGINAL_BYTES), True),
        (letter("SPOOFED_SENDER"), True),  # outbox nobody owned: add the agency, re-drive
        (letter("NO_ELIGIBLE_RECIPIENT"), True),
        (letter("UNKNOWN_SCHEMA_ID"), True),
        (letter("UNKNOWN_SCHEMA_ID", hub_signed=False), False),  # written by someone else
    ],
)
def test_relancer_is_offered_only_where_a_fix_can_help(item: DeadLetterItem, offered: bool) -> None:
    html = rendered([item])
    assert (str(item.dead_letter_id) in buttons(html)) is offered
    assert ("Pas de relance" in html) is not offered
    assert f'id="lm-{item.dead_letter_id}"' in html  # listed either way: it is not hidden
