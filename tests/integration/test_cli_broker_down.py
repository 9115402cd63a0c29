"""Every ``hub`` command, run with the broker down (issue 22, finding 7).

The operator's promise: a command that cannot reach the broker answers ONE line on stderr,
in French, saying what failed and what to do, exits non-zero, prints nothing on stdout, and
never dumps a traceback, within ``ANSWER_BOUND_S``. The commands are enumerated from the typer
app, the plugins' included, so a command added later is run here too: it must be listed as
offline, or be given its arguments, or keep the promise. The offline commands run as well (with the
arguments they need): they may succeed, but never print a traceback, and a failure is one
line.

Long-running commands get a bounded start (``LONG_RUNNING``). ``worker`` and ``webhooks run``
have nothing to do without the broker: they must stop at once with the one line (their
supervisor restarts them). ``gateway``, ``dashboard`` and ``public-report`` serve agencies,
operators and the public, who must be told the broker is down (the gateway's readiness, the
dashboard's banner, the public page's 503 on a report, its "call 17 / 112" still shown): they
may keep running and retrying, with no traceback. ``broker`` starts its own broker, ``demo`` its own
embedded broker, and ``registry serve`` needs none: they are offline.

No broker is started: HUB_BOOTSTRAP_SERVERS points at a loopback port that was free a moment
ago and on which nothing listens.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from french_screens import english_left
from typer.main import get_command

from connectors.prefecture.queue import WorkQueue
from hub.cli.app import app

pytestmark = pytest.mark.slow  # ~60 processes started: scheduled first (tests/conftest.py)

CASE = str(uuid4())
PUBLIC_KEY = "86OHlxcHPipJ1MlgyA5zVJ9FpXw7ZY2P3QjlGtSUH6U="

OFFLINE = {
    "broker": "runs its own broker",
    "demo": "runs its own embedded broker",
    "decode": "files and the embedded registry",
    "encode": "files and the embedded registry",
    "topics list": "prints the declared topics",
    "schemas list": "reads schemas/",
    "schemas check": "reads schemas/",
    "schemas register": "talks to the schema registry, not the broker",
    "keys generate": "writes a key file",
    "keys show-public": "reads a key file",
    "acls render": "renders deploy/kafka/acls.yaml",
    "registry serve": "serves the embedded registry over HTTP",
    "gateway token": "writes gateway_tokens.yaml",
    "prefecture list": "reads the local sqlite queue",
}
"""Commands that never talk to the broker, and why."""

NOT_RUN = {"demo": "runs the whole story on its own broker (40 s): tests/e2e/test_demo.py"}
"""Offline commands this test does not start, and where they are tested."""

LONG_RUNNING = {"gateway", "dashboard", "public-report", "broker", "registry serve"}
"""Servers that may stay up (against a broker that is down, retrying quietly; or their own)."""

START_BOUND_S = 12.0
"""How long a long-running command runs before it counts as "keeps retrying"."""

ANSWER_BOUND_S = 15.0
"""The longest a command may take, beyond starting, to say the broker is down: a connection
refused on loopback is answered at once, so this bounds the command's own retries, not the
network. A command's start is measured in the same run, as the time ``hub topics list`` (no
broker, no file) takes beside the others: a loaded machine slows both alike, so the test
never fails because the machine is slow, and still fails on a command that retries for
aiokafka's 40 s request timeout."""

BASELINE = "topics list"
"""The offline command whose time, in the same run, is the cost of starting a command."""


def arguments(tmp: Path) -> dict[str, list[str]]:
    """Valid arguments for the broker commands that need some: ``prefecture answer`` gets a
    queue holding the pending request it answers, so it reaches its publish."""
    request = uuid4()
    with WorkQueue(tmp / "answer.db") as queue:
        queue.add(
            request_id=request,
            case_id=uuid4(),
            event_id=uuid4(),
            departement="93",
            permit_type="L425-1",
            person_ref="P-1",
            now=datetime.now(UTC),
        )
    agency_file = tmp / "agency.yaml"
    agency_file.write_text(
        "id: prefecture-93\nname: Préfecture\nrole: PREFECTURE\ndepartements: ['93']\n"
        f"signing_keys:\n  - {{key_id: prefecture-93-2026-1, public_key: '{PUBLIC_KEY}'}}\n",
        encoding="utf-8",
    )
    frame = tmp / "junk.bin"
    frame.write_bytes(b"junk")
    event = tmp / "event.json"
    event.write_text("{}", encoding="utf-8")
    return {
        "decode": [str(frame)],
        "encode": ["fr.nrm.ReferralOpened", str(event), "--out", str(tmp / "out.bin")],
        "keys generate": ["police-93", "--out", str(tmp / "keys")],
        "keys show-public": [str(tmp / "missing.pem")],
        "gateway token": ["police-93"],
        "prefecture list": ["--db", str(tmp / "answer.db")],
        "replay": [CASE],
        "subject-report": [CASE],
        "erase request": [CASE, "--by", "operatrice.demo", "--reason", "demande", "--yes"],
        "erase approve": [str(uuid4()), "--by", "dpo.demo", "--yes"],
        "erase reject": [str(uuid4()), "--by", "dpo.demo", "--reason", "motif", "--yes"],
        "erase lift": [
            *(CASE, "--by", "dpo.demo", "--informed", "2026-12-01T10:00"),
            *("--reason", "motif", "--yes"),
        ],
        "audit verify": [CASE],
        "case show": [CASE],
        "deadletters redrive": [str(uuid4())],
        "directory set": [str(agency_file)],
        "directory add-key": ["prefecture-93", "prefecture-93-2027-1", PUBLIC_KEY],
        "directory revoke-key": ["prefecture-93", "prefecture-93-2026-1"],
        "directory rotate-authority": ["directory-authority-2027-1", PUBLIC_KEY],
        "acls apply": [str(Path("deploy/kafka/acls.yaml").resolve())],
        "prefecture sync": ["prefecture-93", "--db", str(tmp / "queue.db"), "--wait", "1"],
        "prefecture answer": [
            str(request),
            "--as",
            "granted",
            "--db",
            str(tmp / "answer.db"),
            "--agency",
            "prefecture-93",
        ],
    }


def commands() -> Iterator[tuple[str, bool]]:
    """Every runnable ``hub`` command path, and whether its parameters are all optional."""

    def walk(command: object, path: list[str]) -> Iterator[tuple[str, bool]]:
        subcommands = getattr(command, "commands", None)
        if path and (not subcommands or getattr(command, "invoke_without_command", False)):
            params = getattr(command, "params", [])
            yield " ".join(path), not any(p.required for p in params)
        for name, sub in (subcommands or {}).items():
            yield from walk(sub, [*path, name])

    yield from walk(get_command(app), [])


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_every_command_is_classified(tmp_path: Path) -> None:
    """A new command with required arguments must be given some here (or not be run, with
    the test that covers it named in NOT_RUN)."""
    missing = [
        name
        for name, optional in commands()
        if name not in NOT_RUN and not optional and name not in arguments(tmp_path)
    ]
    assert missing == []


def test_every_broker_command_says_one_line_when_the_broker_is_down(tmp_path: Path) -> None:
    port = closed_port()
    hub = shutil.which("hub", path=str(Path(sys.executable).parent))
    assert hub is not None
    env = {
        **os.environ,
        "HUB_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
        "HUB_DATA_DIR": str(tmp_path / "var"),
        "HUB_WEBHOOK_SECRET_ASSOCIATION_75": "x" * 32,
        "COLUMNS": "80",
    }
    env.pop("HUB_CLI_TRACEBACK", None)
    args = arguments(tmp_path)
    names = [name for name, _ in commands() if name not in NOT_RUN]
    assert {"overdue", "case show", "deadletters list", "worker", "gateway"} <= set(names)
    assert set(OFFLINE) - set(NOT_RUN) <= set(names)  # the offline ones run too

    free = iter(closed_port() for _ in range(2 * len(LONG_RUNNING)))

    def run(name: str) -> tuple[str, int | None, str, str, float]:
        argv = [hub, *name.split(), *args.get(name, [])]
        started = time.monotonic()
        if name in LONG_RUNNING:
            argv += ["--port", str(next(free))]
        with subprocess.Popen(
            argv,
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            try:
                stdout, stderr = process.communicate(
                    timeout=START_BOUND_S if name in LONG_RUNNING else 60
                )
            except subprocess.TimeoutExpired:
                process.terminate()
                stdout, stderr = process.communicate(timeout=30)
                if name in LONG_RUNNING:
                    return name, None, stdout, stderr, time.monotonic() - started
                raise
        return name, process.returncode, stdout, stderr, time.monotonic() - started

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, names))

    started = next(took for name, _, _, _, took in results if name == BASELINE)
    broken = []
    for name, code, stdout, stderr, took in results:
        lines = stderr.strip().splitlines()
        if "Traceback" in stderr or "Traceback" in stdout:
            broken.append(f"hub {name}: a traceback: {stderr[-600:]!r}")
        elif code is None:  # a server still up after START_BOUND_S: retrying, no traceback
            if stdout.strip() and name not in OFFLINE:
                broken.append(f"hub {name} (running): {stdout[-600:]!r}")
        elif name in OFFLINE:  # may succeed; a failure is one line
            if code != 0 and len(lines) != 1:
                broken.append(f"hub {name}: exit {code}, stderr {stderr[-600:]!r}")
        elif code == 0 or len(lines) != 1 or stdout.strip():
            broken.append(f"hub {name}: exit {code}, stdout {stdout!r}, stderr {stderr[-600:]!r}")
        elif took > started + ANSWER_BOUND_S:
            broken.append(f"hub {name}: answered after {took:.1f} s (start {started:.1f} s)")
        if code not in (0, None) and (english := english_left(stderr, name.split())):
            broken.append(f"hub {name}: English for the operator {english}: {stderr!r}")
    assert broken == [], "\n".join(broken)
    down = [r for r in results if "injoignable" in r[3]]
    assert {r[0] for r in down} >= {
        "overdue",
        "case show",
        "deadletters list",
        "worker",
        "prefecture sync",
        "prefecture answer",
        "topics create",
        "webhooks run",
    }
    for _, _, _, stderr, _ in down:
        assert f"127.0.0.1:{port}" in stderr
        assert "HUB_BOOTSTRAP_SERVERS" in stderr


@pytest.mark.parametrize("secret", ["short", ""])
def test_webhooks_run_with_a_short_secret_names_the_minimum(tmp_path: Path, secret: str) -> None:
    hub = shutil.which("hub", path=str(Path(sys.executable).parent))
    assert hub is not None
    env = {
        **os.environ,
        "HUB_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}",
        "HUB_WEBHOOK_SECRET_ASSOCIATION_75": secret,
    }
    done = subprocess.run(
        [hub, "webhooks", "run"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "16" in done.stderr
    assert done.stdout == ""


HUNG_COMMANDS = [
    "overdue",
    "case show",
    "deadletters list",
    "directory show",
    "topics create",
    "prefecture sync",
    "replay",
    "acls apply",
]
"""One-shot commands of every group, against a broker that accepts and never answers."""

CONNECT_TIMEOUT_S = 2
HUNG_BOUND_S = 15.0
"""Probe (2 s), beyond the command's start measured in the same run (``BASELINE``), with room
for the probe's own retries (~4 s in all alone). Without the probe each took ~40 s
(aiokafka's request timeout): measured 35 to 42 s for overdue, case show and deadletters
list, so the bound still fails on that."""


@contextlib.contextmanager
def hung_broker() -> Iterator[int]:
    """A loopback port that accepts connections and never answers a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(5.0)
        for conn in held:
            conn.close()
        server.close()


def test_a_hung_broker_is_said_in_one_line_within_seconds(tmp_path: Path) -> None:
    hub = shutil.which("hub", path=str(Path(sys.executable).parent))
    assert hub is not None
    args = arguments(tmp_path)
    with hung_broker() as port:
        env = {
            **os.environ,
            "HUB_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
            "HUB_DATA_DIR": str(tmp_path / "var"),
            "HUB_CLI_CONNECT_TIMEOUT_S": str(CONNECT_TIMEOUT_S),
        }
        env.pop("HUB_CLI_TRACEBACK", None)

        def run(name: str) -> tuple[str, int, str, float]:
            started = time.monotonic()
            done = subprocess.run(
                [hub, *name.split(), *args.get(name, [])],
                env=env,
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=90,
            )
            return name, done.returncode, done.stderr, time.monotonic() - started

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(run, [BASELINE, *HUNG_COMMANDS]))
    (_, base_code, _, started), *results = results
    assert base_code == 0
    broken = [
        f"hub {name}: exit {code} after {took:.1f} s (start {started:.1f} s), "
        f"stderr {stderr[-400:]!r}"
        for name, code, stderr, took in results
        if code != 1
        or took > started + HUNG_BOUND_S
        or len(stderr.strip().splitlines()) != 1
        or "injoignable" not in stderr
    ]
    assert broken == [], "\n".join(broken)
