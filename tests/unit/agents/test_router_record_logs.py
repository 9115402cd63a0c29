"""The routing loop's lines about one record, as a table: each names the record or the case it
is about, whether its context is bound early or only when the line is written.

``Router._one`` runs here as the loop calls it, on records read back from police-93's outbox,
with the case flow's decision given and a sink that writes nothing (no broker: what is tested is
what the loop logs and what it hands the sink, not the writes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import pytest
import structlog
from aiokafka.structs import ConsumerRecord
from structlog.testing import capture_logs

import agents.router
from agents.hooks import HookChain
from agents.router import Router
from agents.stats import RouterStats
from hub.contracts.codec import Codec
from hub.contracts.enums import DeadLetterReason
from hub.contracts.events import PermitRequested
from hub.contracts.examples import example_events
from hub.contracts.partitioning import case_partition
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import outbox_topic
from hub.flow.case_state import CaseState
from hub.flow.decisions import Context, Deliver, Outcome, Refusal
from hub.rules.directory import Directory
from hub.rules.indicators import IndicatorGrid
from hub.runtime.clock import wall_clock
from hub.runtime.settings import get_settings

SETTINGS = get_settings()
CODEC = Codec(SchemaRegistry.load(SETTINGS.schemas_dir))
DIRECTORY = Directory.load(SETTINGS.config_dir)
EVENT = next(e for _s, e in example_events() if isinstance(e, PermitRequested))
CASE_ID = EVENT.envelope.case_id
TOPIC = outbox_topic("police-93")
PREFECTURE = DIRECTORY.get("prefecture-93")


def record(**changes: Any) -> ConsumerRecord[bytes, bytes]:
    key = str(CASE_ID).encode()
    value = CODEC.encode_event(EVENT)
    read: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        TOPIC, case_partition(CASE_ID, 4), 41, 1_796_000_000_000, 0, key, value, None,
        len(key), len(value), (),
    )  # fmt: skip
    return replace(read, **changes)


@dataclass
class Sink:
    """The outcome sink, remembering what it was handed."""

    letters: list[Any] = field(default_factory=list)
    applied: list[Outcome] = field(default_factory=list)

    async def dead_letter(self, letter: Any, *_args: Any, **_kw: Any) -> list[Any]:
        self.letters.append(letter)
        return []

    async def apply(self, _partition: int, outcome: Outcome, *_args: Any) -> list[Any]:
        self.applied.append(outcome)
        return []


def router(sink: Sink) -> Router:
    built = Router.__new__(Router)
    built.parts = SimpleNamespace(  # type: ignore[assignment]
        verifier=None,
        key_store=None,
        hub_keys=(),
        operator_keys=(),
        policies=SimpleNamespace(indicators=IndicatorGrid.load(SETTINGS.config_dir)),
    )
    built.codec = CODEC
    built.clock = wall_clock
    built.stats = RouterStats()
    built.hooks = HookChain([built.stats])
    built._sink = sink  # type: ignore[assignment]
    built._consumer = SimpleNamespace(partitions_for_topic=lambda _t: {0, 1, 2, 3})
    built.store = SimpleNamespace(get=lambda _p, case_id: CaseState(case_id=case_id))  # type: ignore[assignment]
    return built


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the stub sink never suspends")


def routed(_state: Any, _inbound: Any, _context: Any, _now: Any) -> Outcome:
    assert PREFECTURE is not None
    delivery = Deliver(PREFECTURE, "fr.nrm.PermitRequested", {}, frozenset(), "test")
    return Outcome(state=CaseState(case_id=CASE_ID), deliveries=(delivery,))


def refused(_state: Any, _inbound: Any, _context: Any, _now: Any) -> Outcome:
    refusal = Refusal(DeadLetterReason.SEMANTIC_VIOLATION, "no recorded choice")
    return Outcome(state=CaseState(case_id=CASE_ID), refusal=refusal)


def broken(_state: Any, _inbound: Any, _context: Any, _now: Any) -> Outcome:
    raise RuntimeError("a defect")


@dataclass(frozen=True)
class Case:
    name: str
    level: int
    flow: Callable[..., Outcome]
    read: ConsumerRecord[bytes, bytes]
    lines: list[dict[str, Any]]
    letter_reason: DeadLetterReason | None = None


ABOUT_RECORD = {"topic": TOPIC, "partition": case_partition(CASE_ID, 4), "offset": 41}
ABOUT_CASE = {"case_id": str(CASE_ID), "event_id": str(EVENT.envelope.event_id)}
HANDLED = {
    "event": "router.handled",
    "log_level": "debug",
    **ABOUT_CASE,
    "agency": "police-93",
    "subject": "fr.nrm.PermitRequested",
    "delivered": ["prefecture-93"],
    "held": 0,
}
CASES = [
    Case("routed, debug on: the handled line", logging.DEBUG, routed, record(), [HANDLED]),
    Case("routed, info: no line at all", logging.INFO, routed, record(), []),
    Case(
        "refused at ingest: the record's line",
        logging.INFO,
        routed,
        record(key=b"not-the-case"),
        [
            {
                "event": "router.dead_letter",
                "log_level": "warning",
                **ABOUT_RECORD,
                "reason": "SEMANTIC_VIOLATION",
                "detail": "records must be keyed by their case id",
            }
        ],
        DeadLetterReason.SEMANTIC_VIOLATION,
    ),
    Case(
        "refused by the flow: the case's line",
        logging.INFO,
        refused,
        record(),
        [
            {
                "event": "router.refused",
                "log_level": "warning",
                **ABOUT_CASE,
                "agency": "police-93",
                "reason": "SEMANTIC_VIOLATION",
                "detail": "no recorded choice",
            }
        ],
        DeadLetterReason.SEMANTIC_VIOLATION,
    ),
    Case(
        "a defect in the flow: the record's line",
        logging.INFO,
        broken,
        record(),
        [
            {
                "event": "router.processing_error",
                "log_level": "error",
                **ABOUT_RECORD,
                "event_id": str(EVENT.envelope.event_id),
                "exc_info": True,
            }
        ],
        DeadLetterReason.PROCESSING_ERROR,
    ),
]


@pytest.fixture
def at_level() -> Iterator[Callable[[int], None]]:
    before = structlog.get_config()

    def configure(level: int) -> None:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(level))

    yield configure
    structlog.configure(**before)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_line_names_what_it_is_about(
    case: Case, at_level: Callable[[int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agents.router, "handle", case.flow)
    at_level(case.level)
    sink = Sink()
    context: Context = SimpleNamespace(directory=DIRECTORY)  # type: ignore[assignment]
    with capture_logs() as lines:
        run(router(sink)._one(case.read, context))
    assert lines == case.lines
    if case.letter_reason is None:
        assert not sink.letters
        assert len(sink.applied) == 1
    else:  # the dead letter names the record as read, whatever bound the line
        (letter,) = sink.letters
        assert letter.reason is case.letter_reason
        assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
            TOPIC,
            case.read.partition,
            41,
        )
        assert letter.original == case.read.value
