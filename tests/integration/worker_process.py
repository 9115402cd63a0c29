"""`hub worker` as a real process: started, killed with SIGKILL, restarted (crash tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from hub.runtime.settings import HubSettings

HUB = str(Path(sys.executable).parent / "hub")


class WorkerProcess:
    """One `hub worker` process with the given settings as HUB_ environment variables."""

    def __init__(self, settings: HubSettings, log_path: Path, **env: str) -> None:
        self.env = {
            **os.environ,
            "HUB_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "HUB_DATA_DIR": str(settings.data_dir),
            "HUB_LOG_JSON": "true",
            **env,
        }
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [HUB, "worker"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
