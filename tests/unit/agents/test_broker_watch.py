"""The broker watch: one `router.broker_unreachable` per outage, one
`router.broker_reconnected` when the broker answers again after 2 s of quiet (defect 6)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.errors import (
    GroupCoordinatorNotAvailableError,
    KafkaConnectionError,
    UnknownTopicOrPartitionError,
)
from aiokafka.structs import TopicPartition

from agents.directory_follower import DirectoryFollower
from agents.io.broker_watch import BrokerWatch, is_connection_error
from agents.router import Router
from agents.router_parts import Policies, RouterParts
from hub.audit.keys import MemoryKeyStore
from hub.contracts.codec import Codec
from hub.contracts.registry import SchemaRegistry
from hub.rules.directory import Directory
from hub.runtime.settings import get_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@dataclass
class Recorder:
    """Stands for a structlog logger: what was logged, with the bound context."""

    context: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def bind(self, **values: Any) -> Recorder:
        self.context.update(values)
        return self

    def error(self, event: str, **values: Any) -> None:
        self.events.append(("error", event, {**self.context, **values}))

    def info(self, event: str, **values: Any) -> None:
        self.events.append(("info", event, {**self.context, **values}))

    @property
    def names(self) -> list[str]:
        return [name for _, name, _ in self.events]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def logged() -> Recorder:
    return Recorder()


@pytest.fixture
def watch(clock: Clock, logged: Recorder) -> Iterator[BrokerWatch]:
    watch = BrokerWatch("127.0.0.1:9092", clock=clock, logger=logged)
    yield watch
    watch.detach()


def test_the_first_error_opens_the_outage_once(
    watch: BrokerWatch, clock: Clock, logged: Recorder
) -> None:
    assert not watch.down
    assert watch.failed("Unable connect to node with id 1: refused")
    for _ in range(500):
        clock.tick(0.02)
        assert not watch.failed("Unable connect to node with id 1: refused")

    assert watch.down
    assert logged.events == [
        (
            "error",
            "router.broker_unreachable",
            {
                "bootstrap": "127.0.0.1:9092",
                "error": "Unable connect to node with id 1: refused",
                "outage": 1,
            },
        )
    ]


def test_quiet_and_answered_closes_the_outage_once(
    watch: BrokerWatch, clock: Clock, logged: Recorder
) -> None:
    started = clock.now
    watch.failed("refused")
    clock.tick(5)
    watch.failed("refused")  # the last error, 5 s in
    clock.tick(0.5)
    watch.answered()  # the broker is back 5.5 s in
    clock.tick(1.4)
    assert not watch.recovered()  # quiet for 1.9 s only
    clock.tick(0.2)
    assert watch.recovered()

    assert watch.reconnected(resumes_at={"nrm.outbox.police-93[0]": 42}) == 5.5
    assert not watch.down
    assert not watch.recovered()
    assert watch.reconnected() == 0.0  # nothing to close: nothing said
    assert logged.names == ["router.broker_unreachable", "router.broker_reconnected"]
    assert logged.events[-1] == (
        "info",
        "router.broker_reconnected",
        {
            "bootstrap": "127.0.0.1:9092",
            "down_s": 5.5,
            "outage": 1,
            "resumes_at": {"nrm.outbox.police-93[0]": 42},
        },
    )
    assert clock.now - started > 5.5


def test_quiet_without_an_answer_is_not_a_recovery(watch: BrokerWatch, clock: Clock) -> None:
    watch.answered()  # before the outage
    clock.tick(1)
    watch.failed("refused")
    clock.tick(30)  # aiokafka backing off: no error, no answer either
    assert not watch.recovered()
    watch.answered(at=clock.now - 31)  # a stale fetch response does not count
    assert not watch.recovered()
    watch.answered()
    clock.tick(0.01)
    assert watch.recovered()


def test_an_answer_between_two_errors_is_not_a_recovery(watch: BrokerWatch, clock: Clock) -> None:
    watch.failed("refused")
    clock.tick(1)
    watch.answered()
    clock.tick(1)
    watch.failed("refused")
    clock.tick(3)
    assert not watch.recovered()
    watch.answered()
    assert watch.recovered()


def test_a_second_outage_is_said_again(watch: BrokerWatch, clock: Clock, logged: Recorder) -> None:
    for _ in range(2):
        watch.failed("refused")
        clock.tick(3)
        watch.failed("refused")
        clock.tick(1)
        watch.answered()
        clock.tick(2)
        assert watch.recovered()
        watch.reconnected()
        clock.tick(60)

    assert logged.names == [
        "router.broker_unreachable",
        "router.broker_reconnected",
        "router.broker_unreachable",
        "router.broker_reconnected",
    ]
    assert [values["outage"] for _, _, values in logged.events] == [1, 1, 2, 2]
    assert [values.get("down_s") for _, _, values in logged.events] == [None, 4.0, None, 4.0]


def aiokafka_record(message: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("aiokafka.consumer.fetcher", level, __file__, 1, message, args, None)


def test_what_counts_as_a_connection_error() -> None:
    assert is_connection_error(aiokafka_record("Unable connect to node with id %s: %s", 1, "x"))
    assert is_connection_error(aiokafka_record('Unable to request metadata from "%s:%s": %s'))
    assert is_connection_error(aiokafka_record("Unable to update metadata from %s", [1]))
    failed_fetch = "Failed fetch messages from %s: %s"
    assert is_connection_error(aiokafka_record(failed_fetch, 1, KafkaConnectionError("closed")))
    assert is_connection_error(aiokafka_record("Heartbeat send request failed: %s", OSError()))
    # A broker that answers with an error is not gone; debug chatter is not an error.
    assert not is_connection_error(aiokafka_record(failed_fetch, 1, UnknownTopicOrPartitionError()))
    assert not is_connection_error(aiokafka_record("Topic %s not found in cluster metadata", "t"))
    assert not is_connection_error(
        aiokafka_record("Group Coordinator Request failed: %s", GroupCoordinatorNotAvailableError())
    )
    assert not is_connection_error(
        aiokafka_record("Unable connect to node with id %s: %s", 1, "x", level=logging.DEBUG)
    )


def test_the_watch_hears_every_aiokafka_logger(
    watch: BrokerWatch, clock: Clock, logged: Recorder
) -> None:
    watch.attach()
    logging.getLogger("aiokafka").error("Unable connect to node with id %s: %s", 1, "refused")
    logging.getLogger("aiokafka.consumer.fetcher").error(
        "Failed fetch messages from %s: %s", 1, KafkaConnectionError("closed")
    )
    logging.getLogger("aiokafka").error("Topic %s not found in cluster metadata", "t")
    assert logged.names == ["router.broker_unreachable"]
    assert logged.events[0][2]["error"] == "Unable connect to node with id 1: refused"

    watch.detach()
    watch.detach()
    assert watch not in logging.getLogger("aiokafka").handlers


@dataclass
class FakeConsumer:
    """What the router asks its consumer about the last fetch."""

    polled_ms: dict[TopicPartition, int | None]
    offsets: dict[TopicPartition, int]

    def assignment(self) -> set[TopicPartition]:
        return set(self.polled_ms)

    def last_poll_timestamp(self, tp: TopicPartition) -> int | None:
        return self.polled_ms[tp]

    async def position(self, tp: TopicPartition) -> int:
        if tp not in self.offsets:
            await asyncio.sleep(10)  # being reset after a rebalance
        return self.offsets[tp]


def test_the_router_reports_fetches_and_says_where_it_resumes(
    clock: Clock, logged: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agents.fetch_watch.POSITIONS_TIMEOUT_S", 0.2)
    outbox = "nrm.outbox.police-93"
    p0, p1, p2, p3 = (TopicPartition(outbox, p) for p in range(4))
    consumer = FakeConsumer({p0: None, p1: None, p2: None, p3: None}, {p0: 7, p1: 12, p2: 0})
    settings = get_settings()
    codec = Codec(SchemaRegistry.load(settings.schemas_dir))
    parts = RouterParts(
        codec=codec,
        directory=DirectoryFollower(settings, codec, Directory.load(settings.config_dir)),
        policies=Policies.load(settings.config_dir, codec.registry),
        key_store=MemoryKeyStore(),
        watch=BrokerWatch("127.0.0.1:9092", clock=clock, logger=logged),
    )
    router = Router(settings, parts)

    def fetched() -> None:
        consumer.polled_ms[p0] = int(clock.now * 1000)
        asyncio.run(router.fetches.fetched(consumer))

    fetched()
    router.watch.failed("refused")
    clock.tick(4)
    router.watch.failed("refused")
    for _ in range(20):  # down: the consumer's last fetch stays where it was
        clock.tick(0.2)
        asyncio.run(router.fetches.fetched(consumer))
    assert logged.names == ["router.broker_unreachable"]
    clock.tick(0.1)
    fetched()  # back 8.1 s after the first error, only just quiet for 4.1 s
    assert logged.names[-1] == "router.broker_reconnected"
    assert logged.events[-1][2]["down_s"] == 8.1
    # p2 was never read from; p3's position is not known yet: left out (after 0.2 s here).
    assert logged.events[-1][2]["resumes_at"] == {f"{outbox}[0]": 7, f"{outbox}[1]": 12}
    fetched()
    assert len(logged.events) == 2
