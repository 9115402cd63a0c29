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
from gateway_fixtures import as_json, bearer, demo_tokens, served_gateway, story

from hub.contracts.topics import all_topics, outbox_topic
from hub.runtime.broker import EmbeddedBroker
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
