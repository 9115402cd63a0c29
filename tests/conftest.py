"""Shared fixtures: one embedded broker for the whole session, settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from hub.contracts.registry import SchemaRegistry
from hub.runtime.broker import EmbeddedBroker
from hub.runtime.settings import PROJECT_ROOT, HubSettings

# No property test fails because the machine is slow: Hypothesis's per-example deadline and its
# too-slow health check measure the machine, not the promise. A test's own @settings still
# chooses its number of examples.
hypothesis_settings.register_profile(
    "hub", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("hub")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long modules first (marked ``slow``), in their collected order, then the rest: the test
    processes of ``make test`` start the longest files at once instead of ending on them, one
    process finishing a long file while the others idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session", autouse=True)
def _loggers_follow_the_current_configuration() -> Iterator[None]:
    """In production each logger is finalised on first use (``configure_logging``); in one test
    process that froze a module's logger with whichever configuration the test before had set,
    so ``structlog.testing.capture_logs`` saw nothing, depending on the order of the files."""
    configure = structlog.configure

    def uncached(**settings: object) -> None:
        configure(**{**settings, "cache_logger_on_first_use": False})  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(structlog, "configure", uncached)
        yield


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A real Tansu broker on a free loopback port, memory storage.

    It fails the tests loudly (never skips) if the broker cannot start: stream paths are only
    ever tested against a real broker.
    """
    log_path = tmp_path_factory.mktemp("broker") / "tansu.log"
    embedded = EmbeddedBroker(log_path=log_path)
    embedded.start()
    try:
        yield embedded
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def settings(broker: EmbeddedBroker) -> HubSettings:
    """Hub settings pointing at the session broker."""
    return HubSettings(bootstrap_servers=broker.bootstrap_servers)


@pytest.fixture(scope="session")
def schemas_dir() -> Path:
    """The committed schemas/ directory."""
    return PROJECT_ROOT / "schemas"


@pytest.fixture(scope="session")
def registry(schemas_dir: Path) -> SchemaRegistry:
    """The registry built from the committed schemas."""
    return SchemaRegistry.load(schemas_dir)
