"""``hub demo``: start the broker, the topics, a worker, the gateway and the dashboard, play
the story (``connectors/demo/story.py``), then stop everything it started."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console

from connectors.demo.scene import HUB, SPEED, Scene
from connectors.demo.story import epilogue, story
from hub.contracts.topics import all_topics
from hub.rules.directory import Directory
from hub.runtime.broker import EmbeddedBroker, free_port
from hub.runtime.settings import HubSettings, get_settings
from hub.runtime.topic_admin import create_topics


@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    """A hub process started for the demo and stopped by PID when it ends."""
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [HUB, *command], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_healthy(url: str, timeout_s: float = 30.0) -> bool:
    """True once ``url`` answers 200 (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _demo_operator(settings: HubSettings) -> tuple[str, str]:
    """The first demo operator's id and password (public demo credentials)."""
    lines = (settings.config_dir / "dev-keys" / "operators.txt").read_text().splitlines()
    first = next(line for line in lines if line and not line.startswith("#"))
    operator, password = first.split()
    return operator, password


async def run_demo(console: Console, *, serve: bool = False) -> int:
    """Run the narrated demo; return the process exit status."""
    started = time.monotonic()
    base = get_settings()
    console.rule("[bold]NRM Hub — démonstration (Seine-Saint-Denis)")
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory(prefix="nrm-demo-") as data:
        settings = base.model_copy(
            update={"bootstrap_servers": broker.bootstrap_servers, "data_dir": Path(data)}
        )
        directory = Directory.load(settings.config_dir)
        await create_topics(settings, all_topics(a.id for a in directory))
        anchor = datetime.now(UTC)
        clock_start = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)  # a Monday morning
        env = {
            **os.environ,
            "HUB_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "HUB_DATA_DIR": data,
            "HUB_CLOCK_START": clock_start.isoformat(),
            "HUB_CLOCK_ANCHOR": anchor.isoformat(),
            "HUB_CLOCK_SPEED": str(SPEED),
            "HUB_LOG_JSON": "true",
        }
        console.print(
            f"broker [bold]{broker.bootstrap_servers}[/] (Tansu, mémoire), "
            f"{len(directory)} agences, horloge simulée ×{SPEED:,.0f}"
        )
        scene = Scene(console, settings, clock_start, anchor)
        gateway_port, dashboard_port = free_port(), free_port()
        logs = Path(data)
        with (
            _process(["worker"], env, logs / "worker.log"),
            _process(["gateway", "--port", str(gateway_port)], env, logs / "gateway.log"),
            _process(["dashboard", "--port", str(dashboard_port)], env, logs / "dashboard.log"),
        ):
            gateway = f"http://127.0.0.1:{gateway_port}"
            dashboard = f"http://127.0.0.1:{dashboard_port}"
            for name, url in (("passerelle HTTP", gateway), ("tableau de bord", dashboard)):
                up = await asyncio.to_thread(_wait_healthy, f"{url}/healthz")
                console.print(f"{name} {url} " + ("[green]prêt[/]" if up else "[red]absent[/]"))
            try:
                case_id = await story(scene)
                await epilogue(scene, case_id)
            finally:
                await scene.stop()
            operator, password = _demo_operator(settings)
            console.rule("Tableau de bord des opérateurs")
            console.print(
                f"{dashboard}  (démo : {operator} / {password}) — dossier "
                f"{dashboard}/dossiers/{case_id}",
                highlight=False,
            )
            if serve:
                console.print(
                    "broker, worker, passerelle et tableau de bord restent actifs : "
                    "Ctrl-C pour arrêter"
                )
                await asyncio.Event().wait()
    console.print(
        f"[green]terminé[/] en {time.monotonic() - started:.0f} s ; "
        "tout ce qui a été démarré est arrêté"
    )
    return 0
