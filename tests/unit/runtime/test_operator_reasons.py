"""What an operator reads when a file or a field is refused: French, with the machine's code,
never the refused value (it may be a secret)."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.runtime.operator_reasons import field_problems, os_reason


def _oserror(path: Path) -> OSError:
    try:
        path.read_text()
    except OSError as exc:
        return exc
    raise AssertionError("read")


def test_a_missing_file_is_said_in_french_with_its_code(tmp_path: Path) -> None:
    exc = _oserror(tmp_path / "absent.yaml")
    assert exc.strerror == "No such file or directory"  # what the operator saw before
    assert os_reason(exc) == "fichier introuvable (ENOENT)"


def test_a_directory_read_as_a_file_is_said_in_french(tmp_path: Path) -> None:
    assert os_reason(_oserror(tmp_path)) == "c'est un répertoire (EISDIR)"


def test_a_forbidden_file_is_said_in_french() -> None:
    denied = PermissionError(errno.EACCES, "Permission denied")
    assert os_reason(denied) == "accès refusé (EACCES)"


def test_an_unlisted_error_keeps_its_code() -> None:
    assert os_reason(OSError(errno.EIO, "Input/output error")) == "erreur système (EIO)"
    assert os_reason(OSError("no errno")) == "erreur d'entrée-sortie"


class _Listener(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str
    port: int = Field(ge=1, le=65535)
    mode: Literal["memory", "s3"] = "memory"
    secret: str = "x" * 16

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if len(value) < 16:
            raise ValueError("au moins 16 caractères")
        return value


@pytest.mark.parametrize(
    ("document", "said"),
    [
        ({"port": 1}, "host : obligatoire, absent"),
        ({"host": "h", "port": "huit"}, "port : nombre entier attendu"),
        ({"host": "h", "port": 0}, "port : au moins 1"),
        ({"host": "h", "port": 70000}, "port : au plus 65535"),
        ({"host": "h", "port": 1, "mode": "disk"}, "mode : valeur attendue : 'memory' ou 's3'"),
        ({"host": "h", "port": 1, "colour": "red"}, "colour : champ inconnu"),
        ({"host": "h", "port": 1, "secret": "hunter2"}, "secret : au moins 16 caractères"),
    ],
)
def test_each_invalid_field_is_said_in_french(document: dict[str, object], said: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _Listener.model_validate(document)
    line = field_problems(caught.value)
    assert line == said
    assert "hunter2" not in line  # never the refused value
    assert "huit" not in line
