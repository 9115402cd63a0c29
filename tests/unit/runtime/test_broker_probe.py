"""The embedded broker's start-up probe and lifecycle, against the real binary."""

from __future__ import annotations

import os

import pytest

from hub.runtime.broker import BrokerStartError, EmbeddedBroker, answers_metadata, free_port


def test_probe_says_no_when_nothing_listens() -> None:
    assert not answers_metadata("127.0.0.1", free_port(), timeout=0.2)


def test_broker_starts_answers_and_stops_by_pid() -> None:
    with EmbeddedBroker() as broker:
        assert broker.bootstrap_servers.startswith("127.0.0.1:")
        assert answers_metadata(broker.host, broker.port)
        pid = broker.pid
        assert pid is not None
    assert not answers_metadata(broker.host, broker.port, timeout=0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_broker_that_cannot_bind_fails_loudly() -> None:
    with EmbeddedBroker() as first, pytest.raises(BrokerStartError):
        EmbeddedBroker(port=first.port, start_timeout=2.0).start()
