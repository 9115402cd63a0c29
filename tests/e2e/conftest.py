"""End-to-end fixtures: the session broker with every topic, a fast-clock worker serving its
probes, the dashboard on loopback, and headless Chromium (Debian's package) through Playwright.

Chromium missing is a failure with the command that installs it, never a skip.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright
from worker_thread import WorkerThread

from connectors.dashboard.actions import OPERATOR_ACTIONS
from connectors.dashboard.app import create_dashboard_app
from connectors.dashboard.config import DashboardSettings
from connectors.serving import BackgroundServer
from hub.contracts.topics import all_topics
from hub.rules.directory import Directory
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# 100,000 simulated seconds per wall second: a 5-working-day permit deadline passes in ~6 s.
CLOCK_SPEED = 100_000.0
CLOCK_START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def e2e_settings(settings: HubSettings, tmp_path_factory: pytest.TempPathFactory) -> HubSettings:
    """Settings of the end-to-end hub: its own data folder and a fast simulated clock shared
    by the worker and the dashboard (same start, anchor and speed: the same "now")."""
    hub = settings.model_copy(
        update={
            "data_dir": tmp_path_factory.mktemp("e2e-data"),
            "clock_start": CLOCK_START,
            "clock_anchor": datetime.now(UTC),
            "clock_speed": CLOCK_SPEED,
        }
    )
    directory = Directory.load(hub.config_dir)
    asyncio.run(create_topics(hub, [*all_topics(a.id for a in directory), OPERATOR_ACTIONS]))
    return hub


@pytest.fixture(scope="module")
def fast_worker(e2e_settings: HubSettings) -> Iterator[WorkerThread]:
    """A routing worker on the fast clock."""
    running = WorkerThread(e2e_settings, health=True).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def dashboard_url(
    e2e_settings: HubSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    config = DashboardSettings.model_construct(
        session_secret=None,
        refresh_seconds=1.0,
        index_dir=tmp_path_factory.mktemp("dashboard-index"),
        action_timeout_seconds=5.0,
        login_attempts=20,
        session_hours=1.0,
        secure_cookie=False,
        operators_file=None,
    )
    server = BackgroundServer(create_dashboard_app(e2e_settings, config)).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium: missing is a failure that says how to install it."""
    found = CHROMIUM if CHROMIUM.exists() else None
    if found is None:
        which = shutil.which("chromium")
        found = Path(which) if which else None
    if found is None:
        pytest.fail(
            "headless Chromium is required for the browser tests and is not installed: run "
            "`apt-get update && apt-get install -y chromium` (or `make chromium`)",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright, chromium: Path) -> Iterator[Browser]:
    launched = playwright.chromium.launch(
        executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True, timeout=30_000
    )
    try:
        yield launched
    finally:
        launched.close()
