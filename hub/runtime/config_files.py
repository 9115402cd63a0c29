"""Configuration as validated data: YAML files under ``deploy/config/`` read into pydantic.

One loader for every policy file (directory, routing, consent, deadlines), so each refuses a
bad file the same way: a ``ConfigError`` naming the file and every invalid field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hub.runtime.operator_reasons import field_problems, os_reason

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration file that does not validate, with the file and the reasons."""


def read_yaml(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file (ConfigError if unreadable or not a mapping)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path} : illisible, {os_reason(exc)}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} : YAML invalide ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} : un dictionnaire YAML est attendu au premier niveau")
    return raw


def load_config(path: Path, model: type[M]) -> M:
    """Read ``path`` and validate it as ``model`` (ConfigError naming each invalid field)."""
    try:
        return model.model_validate(read_yaml(path))
    except ValidationError as exc:
        problems = field_problems(exc)
        raise ConfigError(f"{path}: {problems}") from None
