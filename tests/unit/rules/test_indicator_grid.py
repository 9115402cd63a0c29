"""The shared indicator grid: the committed file is coherent and sourced, unknown codes and
form-specific codes on the wrong form are refused with a machine reason naming the code, and a
bad grid file is refused whole (tables of cases, real ``deploy/config/indicators.yaml``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hub.contracts.enums import DeadLetterReason, ExploitationType
from hub.contracts.events import ExploitationDetails, IdentificationDecision
from hub.contracts.examples import INDICATORS, example_events
from hub.rules.indicators import IndicatorGrid, check_codes, check_event
from hub.runtime.config_files import ConfigError

CONFIG = Path(__file__).resolve().parents[3] / "deploy" / "config"
GRID = IndicatorGrid.load(CONFIG)
L = ExploitationType

ILO_ELEVEN = (
    "Abuse of vulnerability",
    "Deception",
    "Restriction of movement",
    "Isolation",
    "Physical and sexual violence",
    "Intimidation and threats",
    "Retention of identity documents",
    "Withholding of wages",
    "Debt bondage",
    "Abusive working and living conditions",
    "Excessive overtime",
)


def test_the_grid_carries_the_eleven_ilo_indicators_in_the_ilo_order() -> None:
    ilo = [i for i in GRID.indicators if i.source == "ILO-FL"]
    assert [i.label_en for i in ilo] == list(ILO_ELEVEN)
    assert [i.code for i in ilo] == [f"ILO-FL-{n:02}" for n in range(1, 12)]
    assert all(not i.forms for i in ilo)


def test_every_indicator_is_sourced_labelled_in_both_languages_and_linked() -> None:
    for indicator in GRID.indicators:
        source = GRID.sources[indicator.source]
        assert source.link.startswith("https://")
        assert indicator.label_fr.strip()
        assert indicator.label_en.strip()
        assert indicator.code.startswith(indicator.source + "-")


def test_the_catalogue_of_examples_uses_only_grid_codes() -> None:
    assert set(INDICATORS) <= set(GRID.usable_codes())
    for _sender, event in example_events():
        assert check_event(GRID, event) is None, event


@pytest.mark.parametrize(
    ("codes", "forms", "reason", "named"),
    [
        (("ILO-FL-07",), (L.LABOUR,), None, None),
        ((), (L.SEXUAL,), None, None),
        (("ILO-FL-07", "TRAV-01"), (L.LABOUR,), DeadLetterReason.UNKNOWN_INDICATOR, "'TRAV-01'"),
        (("ilo-fl-07",), (), DeadLetterReason.UNKNOWN_INDICATOR, "'ilo-fl-07'"),
        (("ILO-FL-12",), (), DeadLetterReason.UNKNOWN_INDICATOR, "'ILO-FL-12'"),
        (("",), (), DeadLetterReason.UNKNOWN_INDICATOR, "''"),
        (("passeport retenu",), (), DeadLetterReason.UNKNOWN_INDICATOR, "'passeport retenu'"),
        (("UNODC-SX-02",), (L.SEXUAL,), None, None),
        (("UNODC-SX-02",), (L.LABOUR, L.SEXUAL), None, None),
        (("UNODC-SX-02",), (), None, None),
        (("UNODC-SX-02",), (L.UNKNOWN,), None, None),
        (("UNODC-SX-02",), (L.LABOUR, L.OTHER), None, None),
        (
            ("UNODC-SX-02",),
            (L.LABOUR,),
            DeadLetterReason.INDICATOR_FORM_MISMATCH,
            "UNODC-SX-02 is specific to SEXUAL",
        ),
        (
            ("UNODC-SX-01",),
            (L.DOMESTIC_SERVITUDE, L.FORCED_BEGGING),
            DeadLetterReason.INDICATOR_FORM_MISMATCH,
            "DOMESTIC_SERVITUDE, FORCED_BEGGING",
        ),
    ],
)
def test_codes_against_the_grid(
    codes: tuple[str, ...],
    forms: tuple[ExploitationType, ...],
    reason: DeadLetterReason | None,
    named: str | None,
) -> None:
    refusal = check_codes(GRID, codes, forms)
    if reason is None:
        assert refusal is None
        return
    assert refusal is not None
    assert refusal.reason is reason
    assert named is not None
    assert named in refusal.detail


def test_a_long_or_control_laden_code_is_shown_escaped_and_cut() -> None:
    refusal = check_codes(GRID, ["X\n" * 500])
    assert refusal is not None
    assert "\n" not in refusal.detail
    assert len(refusal.detail) < 200


def test_a_withdrawn_code_is_refused_as_unknown_but_stays_in_the_grid(tmp_path: Path) -> None:
    data = yaml.safe_load((CONFIG / "indicators.yaml").read_text(encoding="utf-8"))
    data["indicators"][0]["withdrawn"] = True
    (tmp_path / "indicators.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    grid = IndicatorGrid.load(tmp_path)
    refusal = check_codes(grid, ["ILO-FL-01"])
    assert refusal is not None
    assert refusal.reason is DeadLetterReason.UNKNOWN_INDICATOR
    assert "withdrawn" in refusal.detail
    assert grid.get("ILO-FL-01") is not None
    assert "ILO-FL-01" not in grid.usable_codes()


def test_every_place_an_event_carries_codes_is_checked() -> None:
    report = next(e for _s, e in example_events() if hasattr(e, "exploitation_types"))
    hidden = report.model_copy(
        update={"exploitation": ExploitationDetails(types=(L.LABOUR,), indicator_codes=("FOO-1",))}
    )
    refusal = check_event(GRID, hidden)
    assert refusal is not None
    assert "'FOO-1'" in refusal.detail
    # the details' forms count with the top-level ones: SEXUAL in the details fits UNODC-SX
    sexual = report.model_copy(
        update={
            "indicator_codes": ("UNODC-SX-02",),
            "exploitation": ExploitationDetails(types=(L.SEXUAL,)),
        }
    )
    assert check_event(GRID, sexual) is None
    decision = next(e for _s, e in example_events() if isinstance(e, IdentificationDecision))
    refused = check_event(GRID, decision.model_copy(update={"indicator_codes": ("DOC-01",)}))
    assert refused is not None
    assert refused.reason is DeadLetterReason.UNKNOWN_INDICATOR


def _write(tmp_path: Path, mutate: object) -> Path:
    data = yaml.safe_load((CONFIG / "indicators.yaml").read_text(encoding="utf-8"))
    assert callable(mutate)
    mutate(data)
    (tmp_path / "indicators.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda d: d["indicators"].append(dict(d["indicators"][0])), "codes en double"),
        (lambda d: d["indicators"][0].update(source="NOWHERE"), "sans source"),
        (lambda d: d["indicators"][0].update(code="ilo 1"), "code"),
        (lambda d: d["indicators"][0].update(label_fr=""), "label_fr"),
        (lambda d: d["indicators"][0].update(forms=["UNKNOWN"]), "UNKNOWN"),
        (lambda d: d["indicators"][0].update(forms=["TYPO"]), "forms"),
        (lambda d: d["sources"]["ILO-FL"].update(link="http://x"), "link"),
        (lambda d: d.update(version=0), "version"),
        (lambda d: d.update(colour="red"), "colour"),
    ],
)
def test_a_bad_grid_file_is_refused_whole(tmp_path: Path, mutate: object, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        IndicatorGrid.load(_write(tmp_path, mutate))
