"""Each validator of a configuration file, broken once in the real deploy/config file, reaches
the operator as one French « configuration invalide » line, exit 2 (issue 22: the hub's own
validators speak French). The loaders are those the commands call; ``explain`` is the line
every ``hub`` command prints (``OperatorGroup``)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from french_screens import english_left

from connectors.dashboard.operators import OperatorStore
from hub.cli.context import BAD_INPUT, explain
from hub.rules.consent import ConsentPolicy
from hub.rules.deadlines.policy import DeadlinePolicy
from hub.rules.indicators import IndicatorGrid
from hub.rules.roles import OperatorRoster
from hub.rules.routing import RoutingRules
from hub.runtime.config_files import ConfigError
from hub.runtime.retention import RetentionSchedule
from hub.runtime.settings import PROJECT_ROOT, HubSettings

CONFIG = PROJECT_ROOT / "deploy" / "config"
Data = dict[str, Any]


def _legal_duty(data: Data) -> Data:
    for exception in data["exceptions"]:
        if exception.get("condition") == "LEGAL_DUTY_OF_REPORTER":
            return exception  # type: ignore[no-any-return]
    raise AssertionError("no legal duty exception in consent.yaml")


def _regional(data: Data) -> None:
    data["operators"][0]["role"] = "REGIONAL_COORDINATION"
    data["operators"][0].pop("region", None)


def _hash(text: str) -> Callable[[Data], None]:
    return lambda d: d["operators"][0].update(password_hash=text)


CASES: list[tuple[str, str, Callable[[Path], object], Callable[[Data], None], str]] = [
    (
        "routing",
        "routing.yaml",
        RoutingRules.load,
        lambda d: d["rules"][0]["recipients"][0].update(agencies=[], select="designated"),
        "select: designated",
    ),
    (
        "routing ages",
        "routing.yaml",
        RoutingRules.load,
        lambda d: d["rules"][0]["recipients"][0].update(only_minors=True, only_adults=True),
        "à la fois",
    ),
    (
        "indicator twice",
        "indicators.yaml",
        IndicatorGrid.load,
        lambda d: d["indicators"].append(dict(d["indicators"][0])),
        "en double",
    ),
    (
        "indicator source",
        "indicators.yaml",
        IndicatorGrid.load,
        lambda d: d["indicators"][0].update(source="NOWHERE"),
        "sans source",
    ),
    (
        "indicator forms",
        "indicators.yaml",
        IndicatorGrid.load,
        lambda d: d["indicators"][0].update(forms=["UNKNOWN"]),
        "forms ne peut pas",
    ),
    ("role region", "operators.yaml", OperatorRoster.load, _regional, "exige une région"),
    (
        "region without role",
        "operators.yaml",
        OperatorRoster.load,
        lambda d: d["operators"][0].update(region="IDF"),
        "seule la coordination",
    ),
    (
        "operator twice",
        "operators.yaml",
        lambda c: OperatorStore.load(c / "operators.yaml"),
        lambda d: d["operators"].append(dict(d["operators"][0])),
        "en double",
    ),
    (
        "hash shape",
        "operators.yaml",
        lambda c: OperatorStore.load(c / "operators.yaml"),
        _hash("md5$abc"),
        "pas de la forme",
    ),
    (
        "hash cost",
        "operators.yaml",
        lambda c: OperatorStore.load(c / "operators.yaml"),
        _hash("scrypt$1024$8$1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43),
        "coût scrypt",
    ),
    (
        "consent duty",
        "consent.yaml",
        ConsentPolicy.load,
        lambda d: _legal_duty(d).pop("reporter_roles"),
        "obligation de signalement",
    ),
    (
        "no rules",
        "deadlines.yaml",
        lambda c: DeadlinePolicy.load(c / "deadlines.yaml"),
        lambda d: d.update(rules=[]),
        "aucune règle",
    ),
    (
        "two units",
        "deadlines.yaml",
        lambda c: DeadlinePolicy.load(c / "deadlines.yaml"),
        lambda d: d["rules"][0].update(duration={"working_days": 1, "hours": 2}),
        "exactement un",
    ),
    (
        "negative",
        "deadlines.yaml",
        lambda c: DeadlinePolicy.load(c / "deadlines.yaml"),
        lambda d: d["rules"][0].update(duration={"hours": -1}),
        "négative",
    ),
    (
        "no ladder",
        "deadlines.yaml",
        lambda c: DeadlinePolicy.load(c / "deadlines.yaml"),
        lambda d: d["rules"][0].update(ladder="long"),
        "pas d'échelle",
    ),
    (
        "incomplete",
        "deadlines.yaml",
        lambda c: DeadlinePolicy.load(c / "deadlines.yaml"),
        lambda d: d["rules"].pop(0),
        "aucune règle pour",
    ),
    (
        "retention source",
        "retention.yaml",
        RetentionSchedule.load,
        lambda d: d["topics"][0].update(source="because we said so"),
        "doit citer",
    ),
    (
        "retention zero",
        "retention.yaml",
        RetentionSchedule.load,
        lambda d: d["topics"][0].update(retention_days=0),
        "au moins 1",
    ),
    (
        "retention twice",
        "retention.yaml",
        RetentionSchedule.load,
        lambda d: d["topics"].append(dict(d["topics"][0])),
        "deux fois",
    ),
]


@pytest.mark.parametrize(
    ("file", "load", "mutate", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_broken_config_file_is_one_french_line_and_exit_2(
    tmp_path: Path,
    file: str,
    load: Callable[[Path], object],
    mutate: Callable[[Data], None],
    words: str,
) -> None:
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    data = yaml.safe_load((config / file).read_text(encoding="utf-8"))
    mutate(data)
    (config / file).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load(config)
    line, code = explain(raised.value, HubSettings(config_dir=config))
    assert code == BAD_INPUT
    assert line.startswith("configuration invalide : ")
    assert "\n" not in line
    assert words in line
    # Field names and enum values are what the operator types in the file: set aside.
    syntax = ["UNKNOWN", "forms", "sources", "select", "designated", "reporter_roles", "rules"]
    assert english_left(line.split(": ", 1)[1].split(f"{file}:", 1)[-1], syntax) == []
