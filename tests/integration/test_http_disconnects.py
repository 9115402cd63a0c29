"""A client that drops mid-body is an ordinary event on every HTTP surface (issue 22, finding
1 and item 6): one info line naming the surface, no traceback, and the server keeps serving.

Each surface runs as the operator starts it (``hub registry serve``, ``hub dashboard``,
``hub gateway``), JSON logs; the client is a raw socket that announces a body, sends part of
it and closes (a reset, as a crashed client would).
"""

from __future__ import annotations

import json
import os
import socket
import struct
from pathlib import Path

import httpx
import pytest
from eventually import eventually_sync
from test_body_limits import Served, serving

from hub.runtime.broker import LOOPBACK
from hub.runtime.settings import HubSettings

DROPS = 5


@pytest.fixture(scope="module")
def env(hub_settings: HubSettings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("disconnects-data")
    return {
        **os.environ,
        "HUB_BOOTSTRAP_SERVERS": hub_settings.bootstrap_servers,
        "HUB_CONFIG_DIR": str(hub_settings.config_dir),
        "HUB_SCHEMAS_DIR": str(hub_settings.schemas_dir),
        "HUB_DATA_DIR": str(data_dir),
        "HUB_DASHBOARD_INDEX_DIR": str(data_dir / "dashboard-index"),
        "HUB_LOG_JSON": "true",
    }


def drop_mid_body(served: Served) -> None:
    """Announce 2 KiB (under every surface's limit: the route starts reading), send 512
    bytes, reset the connection."""
    surface = served.surface
    head = [f"POST {surface.path} HTTP/1.1", f"Host: {LOOPBACK}:{served.port}"]
    head += [f"{name}: {value}" for name, value in surface.headers.items()]
    head.append("Content-Length: 2048")
    with socket.create_connection((LOOPBACK, served.port), timeout=5.0) as conn:
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + b"a" * 512)
        # SO_LINGER 0: close with a reset, as a client that crashed or lost its network.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def events(log: Path) -> list[dict[str, object]]:
    found = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            found.append({"event": "not json", "line": line})
    return found


@pytest.mark.parametrize("name", ["registry", "dashboard", "gateway"])
def test_a_client_dropping_mid_body_is_one_info_line_and_no_traceback(
    name: str, env: dict[str, str], hub_settings: HubSettings, tmp_path: Path
) -> None:
    with serving(name, env, hub_settings.config_dir, tmp_path) as served:
        for _ in range(DROPS):
            drop_mid_body(served)
        log = tmp_path / f"{name}.log"

        def all_seen() -> bool:
            gone = [e for e in events(log) if e.get("event") == f"{name}.client_disconnected"]
            return len(gone) >= DROPS

        eventually_sync(all_seen, timeout_s=15.0, what=f"{DROPS} disconnects logged by {name}")
        text = log.read_text(errors="replace")
        assert "Traceback" not in text
        assert "exception" not in {str(e.get("level")) for e in events(log)} - {"info"}
        gone = [e for e in events(log) if e.get("event") == f"{name}.client_disconnected"]
        assert {e.get("level") for e in gone} == {"info"}
        assert all("exception" not in e and "exc_info" not in e for e in gone)
        still = httpx.get(served.url + "/", timeout=5.0)
        assert still.status_code < 500
        assert served.process.poll() is None
