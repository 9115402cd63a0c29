"""Broker outage: Tansu on ``s3://`` storage (a local moto server on loopback), stopped in the
middle of a stream and started again on the same port with the same storage.

The `hub worker` process must ride through it: reconnect, rejoin, rebuild its case states,
resume from the committed offsets and route everything, saying so in its JSON logs. Every
event reaches its inbox as the agency client sees it. (The gateway's 503 while the broker is
down is tested with the gateway.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from agency_clients import start_client
from eventually import eventually
from figures import Report, env_int
from flow_helpers import permit_chosen, prefecture_consent
from s3_storage import LocalS3
from worker_process import WorkerProcess

from connectors.client import AgencyClient
from hub.contracts.topics import all_topics
from hub.rules.directory import Directory
from hub.runtime.broker import EmbeddedBroker
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics

pytestmark = pytest.mark.slow

EVENTS = env_int("NRM_OUTAGE_EVENTS", 300)
DOWN_S = float(env_int("NRM_OUTAGE_DOWN_SECONDS", 5))
RESTARTS = env_int("NRM_OUTAGE_RESTARTS", 1)
SETTLE_TIMEOUT_S = 120.0


def log_events(path: Path) -> list[dict[str, Any]]:
    """The worker's JSON log lines (other lines, e.g. a library's, are skipped)."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "event" in entry:
            found.append(entry)
    return found


async def publish(police: AgencyClient, count: int, cases: list[uuid.UUID]) -> None:
    for _ in range(count):
        case_id = uuid.uuid4()
        cases.append(case_id)
        await police.publish(prefecture_consent(case_id))
        for event in permit_chosen(case_id):
            await police.publish(event)


async def collect(
    prefecture: AgencyClient, wanted: set[uuid.UUID], seen: set[uuid.UUID], timeout_s: float
) -> None:
    """Add what ``prefecture`` receives to ``seen`` until it holds ``wanted`` or ``timeout_s``
    passes: what is still missing is counted as lost, with the figures, and asserted."""

    async def received() -> bool:
        try:
            messages = await prefecture.receive(expected=10_000, timeout_s=0.5)
        except Exception:  # the broker is down: the client's own reconnection is not under test
            return False
        seen.update(m.event.envelope.case_id for m in messages)  # type: ignore[attr-defined]
        return wanted <= seen

    with contextlib.suppress(AssertionError):
        await eventually(
            received,
            timeout_s=timeout_s,
            interval_s=0.1,
            max_interval_s=0.5,  # "caught up after restart" is measured to half a second
            what="the wanted cases delivered",
        )


@dataclass
class Outage:
    """What one run of the scenario saw."""

    figures: dict[str, Any]
    log_lines: list[str]
    events_before_stop: list[str]


async def run_outage(tmp_path: Path) -> Outage:
    s3 = LocalS3(tmp_path / "moto.log").start()
    broker = EmbeddedBroker(
        storage_url=s3.storage_url, extra_env=s3.broker_env(), log_path=tmp_path / "tansu.log"
    )
    worker: WorkerProcess | None = None
    clients: list[AgencyClient] = []
    log_path = tmp_path / "worker.log"
    cases: list[uuid.UUID] = []
    seen: set[uuid.UUID] = set()
    outages: list[dict[str, float]] = []
    alive = False
    names: list[str] = []
    redelivered = 0
    started = time.monotonic()
    try:
        broker.start()
        settings = HubSettings(bootstrap_servers=broker.bootstrap_servers, data_dir=tmp_path)
        directory = Directory.load(settings.config_dir)
        await create_topics(settings, all_topics(a.id for a in directory))
        worker = WorkerProcess(settings, log_path).start()
        police = await start_client(settings, "police-93")
        prefecture = await start_client(settings, "prefecture-93")
        clients += [police, prefecture]
        per_phase = EVENTS // (RESTARTS + 1)
        for _ in range(RESTARTS):
            await publish(police, per_phase, cases)
            await collect(prefecture, set(cases[: len(cases) // 2]), seen, SETTLE_TIMEOUT_S)
            # A burst the worker is still busy with when the broker goes away.
            await publish(police, per_phase // 4, cases)
            stopped_at = time.monotonic()
            broker.stop()
            await asyncio.sleep(DOWN_S)  # the outage itself: the broker stays down this long
            broker = EmbeddedBroker(
                broker.port,
                storage_url=s3.storage_url,
                extra_env=s3.broker_env(),
                log_path=tmp_path / "tansu.log",
            ).start()
            restarted_at = time.monotonic()
            before = len(seen)
            await collect(prefecture, seen | {cases[-1]}, seen, SETTLE_TIMEOUT_S)
            outages.append(
                {
                    "down_s": round(restarted_at - stopped_at, 1),
                    "caught_up_after_restart_s": round(time.monotonic() - restarted_at, 1),
                    "delivered_after_restart": len(seen) - before,
                }
            )
        await publish(police, EVENTS - len(cases), cases)
        await collect(prefecture, set(cases), seen, SETTLE_TIMEOUT_S)
        alive = worker.process is not None and worker.process.poll() is None
        names = [e["event"] for e in log_events(log_path)]
        redelivered = prefecture.redelivered
    finally:
        for client in clients:
            await client.stop()
        if worker is not None:
            worker.stop()
        broker.stop()
        s3.stop()
    lost = len(set(cases) - seen)
    lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
    figures = {
        "events_sent": len(cases),
        "broker_restarts_survived": len(outages) if alive and not lost else 0,
        "outages": outages,
        "lost": lost,
        "worker_alive": alive,
        "worker_log_events": sorted(set(names)),
        "worker_log_lines_not_json": sum(1 for line in lines if not line.startswith("{")),
        "redelivered_dropped_by_client": redelivered,
        "seconds": round(time.monotonic() - started, 1),
    }
    return Outage(figures, lines, names)


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Outage:
    """The scenario, run once for the module's tests."""
    return asyncio.run(run_outage(tmp_path_factory.mktemp("outage")))


def test_the_worker_rides_through_a_broker_restart_and_loses_nothing(
    outage: Outage, report: Report
) -> None:
    figures = outage.figures
    report("broker_outage", figures)
    assert figures["worker_alive"], "the worker died with the broker"
    assert figures["lost"] == 0
    assert "worker.stopped" not in outage.events_before_stop
    assert all(o["delivered_after_restart"] > 0 for o in figures["outages"])
    assert figures["broker_restarts_survived"] == RESTARTS


def test_the_worker_logs_the_outage_and_its_recovery_as_json(outage: Outage) -> None:
    not_json = [line for line in outage.log_lines if not line.startswith("{")]
    assert not_json == [], f"{len(not_json)} lines are not JSON, e.g. {not_json[:1]}"
    names = outage.events_before_stop
    assert any("broker_unreachable" in n for n in names)
    assert any("broker_reconnected" in n for n in names)
