"""Logging configuration: the libraries' stdlib records in the hub's format, retry storms cut
to one line a minute (defect 6)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from hub.runtime.logs import RepeatFilter, StderrHandler, configure_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back afterwards."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = text.splitlines()
    assert all(line.startswith("{") for line in lines), lines
    return [json.loads(line) for line in lines]


def test_a_library_record_is_a_json_line_in_json_mode(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)
    logging.getLogger("aiokafka").error("Unable connect to node with id %s: %s", 1, "refused")
    structlog.get_logger().info("router.assigned", partitions=[0, 1])

    library, hub = json_lines(capsys.readouterr().err)
    assert library["event"] == "Unable connect to node with id 1: refused"
    assert library["level"] == "error"
    assert library["logger"] == "aiokafka"
    assert "timestamp" in library
    assert "_record" not in library
    assert "_from_structlog" not in library
    # The hub's own lines are unchanged.
    assert hub["event"] == "router.assigned"
    assert hub["partitions"] == [0, 1]
    assert hub["level"] == "info"


def test_a_library_exception_is_rendered_inside_the_json_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(json=True)
    try:
        raise ConnectionError("gone")
    except ConnectionError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved")

    (entry,) = json_lines(capsys.readouterr().err)
    assert entry["logger"] == "asyncio"
    assert "ConnectionError: gone" in entry["exception"]


def test_a_library_record_stays_readable_in_console_mode(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(json=False)
    logging.getLogger("aiokafka.conn").warning("Heartbeat failed for group %s", "nrm-router")

    err = capsys.readouterr().err
    assert "Heartbeat failed for group nrm-router" in err
    assert "aiokafka.conn" in err
    assert not err.startswith("{")


def test_libraries_stay_quieter_than_the_hub(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True, level="DEBUG")
    logging.getLogger("aiokafka").info("chatter")
    logging.getLogger("aiokafka").warning("worth saying")

    assert [e["event"] for e in json_lines(capsys.readouterr().err)] == ["worth saying"]


def test_configure_logging_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=False)
    configure_logging(json=True)
    configure_logging(json=True)
    ours = [h for h in logging.getLogger().handlers if isinstance(h, StderrHandler)]
    assert len(ours) == 1

    logging.getLogger("aiokafka").error("once")
    assert [e["event"] for e in json_lines(capsys.readouterr().err)] == ["once"]


def test_a_retry_storm_is_one_line_a_minute(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)
    kafka = logging.getLogger("aiokafka")
    for _ in range(500):
        kafka.error("Unable connect to node with id %s: %s", 1, "refused")
    kafka.error("Unable connect to node with id %s: %s", 2, "refused")

    entries = json_lines(capsys.readouterr().err)
    assert [e["event"] for e in entries] == [
        "Unable connect to node with id 1: refused",
        "Unable connect to node with id 2: refused",
    ]
    assert all("repeated" not in e for e in entries)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(message: str, name: str = "aiokafka", level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, (), None)


def test_the_repeat_filter_counts_what_it_left_out() -> None:
    clock = Clock()
    repeats = RepeatFilter(60.0, clock=clock)

    first = record("Unable connect")
    assert repeats.filter(first)
    assert not hasattr(first, "repeated")
    for _ in range(123):
        clock.now += 0.1
        assert not repeats.filter(record("Unable connect"))
    # Another message, logger or level is another message.
    assert repeats.filter(record("Unable to update metadata"))
    assert repeats.filter(record("Unable connect", name="aiokafka.conn"))
    assert repeats.filter(record("Unable connect", level=logging.WARNING))

    clock.now = 1000.0 + 60.0
    again = record("Unable connect")
    assert repeats.filter(again)
    assert again.repeated == 123  # type: ignore[attr-defined]
    clock.now += 1
    assert not repeats.filter(record("Unable connect"))

    clock.now += 120
    quiet = record("Unable connect")
    assert repeats.filter(quiet)
    assert quiet.repeated == 1  # type: ignore[attr-defined]
    clock.now += 120
    assert repeats.filter(fresh := record("Unable connect"))
    assert not hasattr(fresh, "repeated")


def test_the_repeat_count_is_in_the_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)
    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h, StderrHandler)]
    clock = Clock()
    handler.filters = [RepeatFilter(60.0, clock=clock)]
    kafka = logging.getLogger("aiokafka")
    for _ in range(11):
        kafka.error("Unable connect")
    clock.now += 61
    kafka.error("Unable connect")

    entries = json_lines(capsys.readouterr().err)
    assert [e.get("repeated") for e in entries] == [None, 10]


def test_the_repeat_filter_forgets_old_messages() -> None:
    clock = Clock()
    repeats = RepeatFilter(60.0, clock=clock, max_messages=10)
    for n in range(100):
        clock.now += 1
        assert repeats.filter(record(f"message {n}"))
    assert len(repeats._seen) <= 10
    assert not repeats.filter(record("message 99"))
