"""What a failing command prints: one line, a non-zero exit, whatever the command raised."""

from __future__ import annotations

import pytest
import typer
from aiokafka.errors import KafkaConnectionError, UnknownTopicOrPartitionError
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from hub.cli.context import BAD_INPUT, CHECK_FAILED, TRACEBACK_VARIABLE, OperatorGroup
from hub.runtime.config_files import ConfigError

runner = CliRunner()


class _Port(BaseModel):
    port: int


def _invalid() -> ValidationError:
    try:
        _Port.model_validate({"port": "secret-value"})
    except ValidationError as exc:
        return exc
    raise AssertionError("validated")


def _app(error: Exception) -> typer.Typer:
    app = typer.Typer(cls=OperatorGroup)

    @app.command()
    def boom() -> None:
        raise error

    @app.command()
    def other() -> None:
        pass

    return app


@pytest.mark.parametrize(
    ("error", "code", "words"),
    [
        (KafkaConnectionError("Unable to bootstrap"), CHECK_FAILED, "broker injoignable"),
        (RuntimeError("wrapped"), CHECK_FAILED, "erreur inattendue"),
        (UnknownTopicOrPartitionError(), CHECK_FAILED, "hub topics create"),
        (
            ConfigError("secret de webhook env:X absent ou de moins de 16 caractères"),
            BAD_INPUT,
            "16",
        ),
        (_invalid(), BAD_INPUT, "port"),
        (ValueError("a\nmulti-line\nmessage"), CHECK_FAILED, "multi-line message"),
    ],
)
def test_a_failure_is_one_line_and_a_non_zero_exit(
    error: Exception, code: int, words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TRACEBACK_VARIABLE, raising=False)
    result = runner.invoke(_app(error), ["boom"], env={"COLUMNS": "40"})
    assert result.exit_code == code
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert words in result.output
    assert "secret-value" not in result.output  # pydantic's input is not echoed


def test_a_connection_error_under_another_error_is_still_the_broker() -> None:
    try:
        try:
            raise KafkaConnectionError("Unable to bootstrap")
        except KafkaConnectionError as inner:
            raise RuntimeError("cannot read nrm.audit") from inner
    except RuntimeError as outer:
        error = outer
    result = runner.invoke(_app(error), ["boom"])
    assert "broker injoignable" in result.output


def test_the_trace_is_there_for_a_bug_report(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TRACEBACK_VARIABLE, "1")
    result = runner.invoke(_app(RuntimeError("bug")), ["boom"])
    assert isinstance(result.exception, RuntimeError)


@pytest.mark.parametrize(("value", "expected"), [(None, 5.0), ("2", 2.0), ("0", 5.0), ("x", 5.0)])
def test_the_connect_timeout_is_a_positive_number_or_the_default(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: float
) -> None:
    from hub.cli.context import CONNECT_TIMEOUT_VARIABLE, connect_timeout_s

    if value is None:
        monkeypatch.delenv(CONNECT_TIMEOUT_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(CONNECT_TIMEOUT_VARIABLE, value)
    assert connect_timeout_s() == expected


def test_a_refused_probe_never_starts_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc
    import socket
    import warnings

    from hub.cli.context import run_on_broker

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    from hub.runtime.settings import HubSettings

    monkeypatch.setattr(
        "hub.cli.context.current_settings",
        lambda: HubSettings(bootstrap_servers=f"127.0.0.1:{port}"),
    )
    started = []

    async def command() -> None:
        started.append(True)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(KafkaConnectionError):
            run_on_broker(command())
        gc.collect()
    assert started == []
    assert not [w for w in caught if "never awaited" in str(w.message)]
