"""A memory-storage broker restarted without its topics (issue 22, finding 3).

Memory storage keeps nothing across a restart: the broker comes back empty. The gateway must
then refuse to acknowledge a publish into an outbox topic that no longer exists (503
``TOPIC_UNAVAILABLE``, never a 202 for a record nobody can read back), and acknowledge again
once an operator has created the topics. It never creates a topic itself.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from agency_clients import start_client
from aiokafka.errors import UnknownError
from eventually import eventually
from flow_helpers import (
    permit_chosen,
    prefecture_consent,
)
from gateway_fixtures import as_json, bearer, demo_tokens, served_gateway, story
from worker_process import WorkerProcess
from worker_thread import WorkerThread

from agents.hooks import RouterHooks
from connectors.client import AgencyClient
from hub.contracts.topics import all_topics, outbox_topic
from hub.rules.directory import Directory
from hub.runtime.broker import EmbeddedBroker, free_port
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics

POLICE = "police-93"


async def test_a_publish_after_a_restart_without_topics_is_refused_until_they_exist(
    tmp_path: Path,
) -> None:
    broker = EmbeddedBroker(log_path=tmp_path / "tansu.log").start()
    try:
        settings = HubSettings(bootstrap_servers=broker.bootstrap_servers, data_dir=tmp_path)
        await create_topics(settings, all_topics([POLICE]))
        police = bearer(demo_tokens(settings.config_dir)[POLICE])
        events = f"/v1/agencies/{POLICE}/events"
        with served_gateway(settings) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
                referral = as_json(story(uuid.uuid4())["ReferralOpened"])
                assert (await client.post(events, json=referral, headers=police)).status_code == 202

                broker.stop()
                broker = EmbeddedBroker(broker.port, log_path=tmp_path / "tansu.log").start()

                for _ in range(3):  # not once by luck: every try is refused
                    referral = as_json(story(uuid.uuid4())["ReferralOpened"])
                    answer = await client.post(events, json=referral, headers=police)
                    assert answer.status_code == 503, answer.text
                    problem = answer.json()
                    assert problem["reason"] == "TOPIC_UNAVAILABLE"
                    assert outbox_topic(POLICE) in problem["detail"]
                    assert answer.headers["retry-after"]
                    assert "offset" not in problem

                # The gateway created nothing: the topic is still missing.
                async with httpx.AsyncClient(base_url=url, timeout=30.0) as again:
                    still = await again.post(
                        events,
                        json=as_json(story(uuid.uuid4())["ReferralOpened"]),
                        headers=police,
                    )
                    assert still.status_code == 503

                await create_topics(settings, all_topics([POLICE]))
                referral = as_json(story(uuid.uuid4())["ReferralOpened"])
                answer = await client.post(events, json=referral, headers=police)
                assert answer.status_code == 202, answer.text
    finally:
        broker.stop()


async def ready(client: httpx.AsyncClient) -> dict[str, object]:
    """The worker's /readyz answer (status code folded in), or {} while it does not answer."""
    try:
        answer = await client.get("/readyz")
    except httpx.HTTPError:
        return {}
    return {"code": answer.status_code, **answer.json()}


async def test_the_worker_is_not_ready_without_partitions_and_survives_topics_coming_back(
    tmp_path: Path,
) -> None:
    """The worker is ready only while it holds partitions, never exits on the broker's errors
    when the topics come back, and routes an event afterwards."""
    broker = EmbeddedBroker(log_path=tmp_path / "tansu.log").start()
    settings = HubSettings(bootstrap_servers=broker.bootstrap_servers, data_dir=tmp_path)
    agencies = [a.id for a in Directory.load(settings.config_dir)]
    await create_topics(settings, all_topics(agencies))
    port = free_port()
    worker = WorkerProcess(settings, tmp_path / "worker.log", HUB_HEALTH_PORT=str(port)).start()
    clients: list[AgencyClient] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as probe:

            async def is_ready() -> bool:
                return (await ready(probe)).get("code") == 200

            async def holds_nothing() -> bool:
                answer = await ready(probe)
                checks = answer.get("checks")
                return (
                    answer.get("code") == 503
                    and isinstance(checks, dict)
                    and checks.get("partitions") is False
                    and checks.get("broker") is True
                )

            await eventually(is_ready, timeout_s=60, what="the worker ready")

            broker.stop()
            broker = EmbeddedBroker(broker.port, log_path=tmp_path / "tansu.log").start()
            await eventually(holds_nothing, timeout_s=60, what="not ready while holding nothing")

            await create_topics(settings, all_topics(agencies))
            await eventually(is_ready, timeout_s=90, what="ready again once topics exist")
            assert worker.process is not None
            assert worker.process.poll() is None, "the worker exited"

            police = await start_client(settings, "police-93")
            prefecture = await start_client(settings, "prefecture-93")
            clients += [police, prefecture]
            case_id = uuid.uuid4()
            await police.publish(prefecture_consent(case_id))
            for event in permit_chosen(case_id):  # her choice raises the permit request
                await police.publish(event)

            async def routed() -> bool:
                messages = await prefecture.receive(expected=1, timeout_s=0.5)
                return any(m.event.envelope.case_id == case_id for m in messages)  # type: ignore[attr-defined]

            await eventually(routed, timeout_s=60, what="the event routed after the restart")
            assert worker.process.poll() is None, "the worker exited"
    finally:
        for client in clients:
            await client.stop()
        worker.stop()
        broker.stop()


class FailsOnce(RouterHooks):
    """The broker's unknown error (``-1``, what Tansu answered while topics came back), raised
    in the middle of the first batch: after the read, before anything is written."""

    def __init__(self) -> None:
        self.raised = False

    def batch_read(self, records: int) -> None:
        if records and not self.raised:
            self.raised = True
            raise UnknownError("injected: the broker's unknown error mid-batch")


async def test_a_broker_error_mid_batch_does_not_stop_the_worker_nor_lose_the_batch(
    tmp_path: Path,
) -> None:
    broker = EmbeddedBroker(log_path=tmp_path / "tansu.log").start()
    settings = HubSettings(bootstrap_servers=broker.bootstrap_servers, data_dir=tmp_path)
    await create_topics(settings, all_topics(a.id for a in Directory.load(settings.config_dir)))
    worker = WorkerThread(settings).start()
    clients: list[AgencyClient] = []
    try:
        assert worker.router is not None
        failing = FailsOnce()
        worker.router.hooks.observers = (*worker.router.hooks.observers, failing)
        police = await start_client(settings, "police-93")
        prefecture = await start_client(settings, "prefecture-93")
        clients += [police, prefecture]
        case_id = uuid.uuid4()
        await police.publish(prefecture_consent(case_id))
        for event in permit_chosen(case_id):  # her choice raises the permit request
            await police.publish(event)

        seen: list[uuid.UUID] = []

        async def routed() -> bool:
            messages = await prefecture.receive(expected=1, timeout_s=0.5)
            seen.extend(m.event.envelope.case_id for m in messages)  # type: ignore[attr-defined]
            return case_id in seen

        await eventually(routed, timeout_s=30, what="the batch routed after the error")
        assert failing.raised, "the error was never injected"
        assert worker._thread.is_alive(), f"the worker stopped: {worker._error!r}"
    finally:
        for client in clients:
            await client.stop()
        worker.stop()
        broker.stop()
