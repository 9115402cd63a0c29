"""A local S3 server (moto) on loopback, for the broker's ``s3://`` storage.

The embedded broker's memory storage dies with it; with ``s3://BUCKET/`` on this server,
topics, records and committed offsets outlive a broker restart (docs/RELIABILITY.md).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from eventually import eventually_sync

from hub.runtime.broker import LOOPBACK, free_port

START_TIMEOUT_S = 30.0


class LocalS3:
    """``python -m moto.server`` on a free loopback port, with one bucket, stopped on exit."""

    def __init__(self, log_path: Path, bucket: str = "tansu") -> None:
        self.port = free_port()
        self.bucket = bucket
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def storage_url(self) -> str:
        """The broker's ``--storage-engine``."""
        return f"s3://{self.bucket}/"

    def broker_env(self) -> dict[str, str]:
        """What Tansu reads to reach this server (the credentials are moto's dummies)."""
        return {
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "eu-west-3",
        }

    def start(self) -> LocalS3:
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process = self._process

        def bucket_created() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"moto server exited with {process.returncode}")
            try:
                request = urllib.request.Request(f"{self.endpoint}/{self.bucket}", method="PUT")
                with urllib.request.urlopen(request, timeout=1) as answer:
                    return bool(answer.status == 200)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return False

        try:
            eventually_sync(
                bucket_created,
                timeout_s=START_TIMEOUT_S,
                interval_s=0.1,
                what=f"the moto server answering on {self.endpoint}",
            )
        except AssertionError as error:
            self.stop()
            raise RuntimeError(f"moto server did not answer on {self.endpoint}") from error
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
