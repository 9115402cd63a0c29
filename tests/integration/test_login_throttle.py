"""Lockout as a weapon, and passwords typed into the id field: the dashboard on loopback.

An attacker at one address hammers an operator's account. The operator, at another address,
must still log in at once; the attacker must be slowed by delays that grow (and stop growing),
never by a lock a stranger can set off. A password typed into the operator-id field must reach
neither the logs nor ``nrm.operator-actions``, which is kept forever.

Loopback gives the two addresses: the attacker's client binds 127.0.0.2, the operator's
127.0.0.1. Delays are configured small (tens of milliseconds) so the test waits seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from eventually import eventually_sync
from test_dashboard import dashboard_config, demo_passwords, login, operator_actions

from connectors.dashboard.actions import OPERATOR_ACTIONS
from connectors.dashboard.app import create_dashboard_app
from connectors.serving import BackgroundServer
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics

OPERATOR = "operatrice.demo"
ATTACKER_ADDRESS = "127.0.0.2"
FREE = 3
BASE_S = 0.02
MAX_S = 0.25
SLACK_S = 3.0  # a loaded machine may answer late, never early
ATTACKS = 20


def delay_after(failures: int) -> float:
    beyond = failures - FREE
    return 0.0 if beyond < 0 else min(MAX_S, BASE_S * 2**beyond)


@pytest.fixture
def dashboard_url(
    hub_settings: HubSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    asyncio.run(create_topics(hub_settings, [OPERATOR_ACTIONS]))
    config = dashboard_config(
        tmp_path_factory.mktemp("throttled-dashboard"),
        login_attempts=FREE,
        login_delay_seconds=BASE_S,
        login_max_delay_seconds=MAX_S,
    )
    server = BackgroundServer(create_dashboard_app(hub_settings, config)).start()
    try:
        yield server.url
    finally:
        server.stop()


def client(url: str, local_address: str | None = None) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
    return httpx.Client(base_url=url, timeout=30.0, follow_redirects=False, transport=transport)


def test_twenty_wrong_guesses_elsewhere_do_not_stop_the_operator_at_her_desk(
    dashboard_url: str, hub_settings: HubSettings
) -> None:
    password = demo_passwords(hub_settings.config_dir)[OPERATOR]
    with client(dashboard_url, ATTACKER_ADDRESS) as attacker:
        started = time.monotonic()
        statuses = [login(attacker, OPERATOR, f"{password}-{FREE}").status_code]
        checking_s = time.monotonic() - started  # one password checked, on this machine now
        statuses += [login(attacker, OPERATOR, f"{password}-{n}").status_code for n in range(19)]
    assert statuses[:FREE] == [401] * FREE
    assert set(statuses) <= {401, 429}
    assert 429 in statuses  # hammering is refused, cheaply
    with client(dashboard_url) as operator:
        started = time.monotonic()
        answer = login(operator, OPERATOR, password)
        assert answer.status_code == 303, answer.text[:300]
        assert time.monotonic() - started < checking_s + SLACK_S  # no throttle delay


def test_the_attacker_waits_growing_bounded_delays_and_the_operator_none(
    dashboard_url: str, hub_settings: HubSettings
) -> None:
    password = demo_passwords(hub_settings.config_dir)[OPERATOR]
    throttled: list[httpx.Response] = []
    with client(dashboard_url, ATTACKER_ADDRESS) as attacker:
        sent_at: list[float] = []
        answered_at: list[float] = []

        def checked_guess() -> bool:
            started = time.monotonic()
            answer = login(attacker, OPERATOR, password + "-faux")
            if answer.status_code == 429:
                throttled.append(answer)
                return False
            assert answer.status_code == 401, answer.status_code
            sent_at.append(started)
            answered_at.append(time.monotonic())
            return True

        for _ in range(ATTACKS):  # each guess as soon as the dashboard will check it
            eventually_sync(
                checked_guess,
                timeout_s=MAX_S + SLACK_S,
                what="the attacker's next checked guess",
                interval_s=0.005,
                max_interval_s=0.02,
            )
        # Between two checked guesses, at least the delay the earlier one imposed: growing
        # from BASE_S, doubling, then stuck at MAX_S (bounded; never a lock).
        # The upper bound counts only the wait between an answer and the next checked guess:
        # checking a password costs what the machine makes it cost.
        for failures in range(1, ATTACKS):
            gap = answered_at[failures] - sent_at[failures - 1]
            assert gap >= delay_after(failures), (failures, gap)
            waited = sent_at[failures] - answered_at[failures - 1]
            assert waited <= delay_after(failures) + SLACK_S, (failures, waited)
        checking_s = max(a - s for s, a in zip(sent_at, answered_at, strict=True))
        delays = [delay_after(n) for n in range(FREE - 1, FREE + 5)]
        assert delays == [0, BASE_S, 2 * BASE_S, 4 * BASE_S, 8 * BASE_S, MAX_S]
        # Right after a wrong guess, the next one is refused without checking the password.
        refused = login(attacker, OPERATOR, password)
        assert refused.status_code == 429
        throttled.append(refused)
    assert throttled, "the attacker was never refused"
    for answer in throttled:
        assert 1 <= int(answer.headers["retry-after"]) <= max(1, round(MAX_S + 1))
        assert "Trop de tentatives. Réessayez dans" in answer.text
    # The operator, at her own desk, logs in at once.
    with client(dashboard_url) as operator:
        started = time.monotonic()
        answer = login(operator, OPERATOR, password)
        assert answer.status_code == 303, answer.text[:300]
        assert time.monotonic() - started < checking_s + SLACK_S  # no throttle delay


def leaked_fragments(secret: str, text: str, length: int = 8) -> list[str]:
    return [
        secret[i : i + length]
        for i in range(len(secret) - length + 1)
        if secret[i : i + length] in text
    ]


async def test_a_password_typed_as_operator_id_is_neither_logged_nor_recorded(
    dashboard_url: str, hub_settings: HubSettings, capfd: pytest.CaptureFixture[str]
) -> None:
    typed = "soleil-de-marseille-2026!"  # what an operator typed into the id field
    started = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=dashboard_url, timeout=30.0) as http:
        for _ in range(2):
            answer = await http.post(
                "/connexion", data={"operateur": typed, "mot_de_passe": "operatrice.demo"}
            )
            assert answer.status_code == 401
            assert "Identifiant ou mot de passe incorrect." in answer.text
    actions: list[dict[str, Any]] = [
        action
        for action in await operator_actions(hub_settings)
        if datetime.fromisoformat(action["at"]) >= started
    ]
    refused = [a for a in actions if a["action"] == "LOGIN_REFUSED"]
    assert len(refused) == 2, actions
    assert all(a["operator"].startswith("unknown-") for a in refused)
    assert refused[0]["operator"] == refused[1]["operator"]  # repeats can still be counted
    assert leaked_fragments(typed, json.dumps(actions)) == []
    logs = "".join(capfd.readouterr())
    assert "dashboard.action" in logs  # the refusals were logged, and captured here
    assert leaked_fragments(typed, logs) == []
