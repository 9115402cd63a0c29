"""A hub without a triage body still starts its dashboard: the desk is off, not the page."""

from __future__ import annotations

from pathlib import Path

from connectors.dashboard.triage_queue import TriageDesk, TriageSettings
from hub.contracts.codec import Codec
from hub.contracts.registry import SchemaRegistry
from hub.runtime.settings import HubSettings


def test_no_such_agency_or_a_key_that_is_not_its_own_turns_the_desk_off(tmp_path: Path) -> None:
    settings = HubSettings()
    codec = Codec(SchemaRegistry.load(settings.schemas_dir))
    assert TriageDesk.load(settings, codec, TriageSettings()) is not None
    assert TriageDesk.load(settings, codec, TriageSettings(agency_id="nobody-here")) is None
    other_key = settings.config_dir / "dev-keys" / "police-93.pem"
    wrong = TriageSettings(signing_key_path=other_key)
    assert TriageDesk.load(settings, codec, wrong) is None
    missing = TriageSettings(signing_key_path=tmp_path / "absent.pem")
    assert TriageDesk.load(settings, codec, missing) is None
