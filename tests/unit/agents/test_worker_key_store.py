"""A worker that cannot open its key store says so in one line and never starts: it would
otherwise write audit entries no process could decrypt, or none at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from hub.cli.app import app
from hub.runtime.settings import HubSettings, KeyStoreKind

runner = CliRunner()


@pytest.mark.parametrize(
    ("pin", "words"),
    [
        (None, "HUB_PKCS11_PIN is not set"),
        ("123456", "cannot open PKCS#11 token"),
    ],
)
def test_a_worker_without_its_hsm_refuses_to_start_in_one_line(pin: str | None, words: str) -> None:
    settings = HubSettings(
        bootstrap_servers="127.0.0.1:9",  # never reached: the key store is opened first
        key_store=KeyStoreKind.PKCS11,
        pkcs11_module=Path("/nonexistent/libpkcs11.so"),
        pkcs11_pin=SecretStr(pin) if pin else None,
    )
    result = runner.invoke(app, ["worker"], obj=settings, env={"COLUMNS": "200"})
    assert result.exit_code != 0
    assert words in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    if pin:
        assert pin not in result.output
