"""The demo's stage: simulated agencies (signed agency clients), its clock and its narration."""

from __future__ import annotations

import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from rich.console import Console

from connectors.client.dev import dev_client
from hub.contracts.enums import DataCategory
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.examples import example_events
from hub.rules.directory import Directory
from hub.rules.indicators import IndicatorGrid
from hub.runtime.settings import HubSettings, get_settings

SPEED = 50_000.0
"""Simulated seconds per second: the prefecture's five working days pass in about 12 s."""
STEP_TIMEOUT_S = 40.0
HUB = str(Path(sys.executable).parent / "hub")

FRENCH_CATEGORY = {
    DataCategory.IDENTITY: "identité",
    DataCategory.CONTACT: "coordonnées",
    DataCategory.HEALTH: "santé",
    DataCategory.IMMIGRATION_STATUS: "situation administrative",
    DataCategory.EXPLOITATION_DETAILS: "faits d'exploitation",
    DataCategory.MINOR: "minorité",
}


class Scene:
    """The demo's agencies, its clock and its narration."""

    def __init__(
        self, console: Console, settings: HubSettings, clock_start: datetime, anchor: datetime
    ) -> None:
        self.console = console
        self.settings = settings
        self.clock_start = clock_start
        self.anchor = anchor
        self.directory = Directory.load(settings.config_dir)
        self.indicators = IndicatorGrid.load(settings.config_dir)
        self.clients: dict[str, Any] = {}

    def now(self) -> datetime:
        """The simulated time the worker also reads."""
        return self.clock_start + (datetime.now(UTC) - self.anchor) * SPEED

    async def client(self, agency_id: str) -> Any:
        """The started client of a simulated agency."""
        if agency_id not in self.clients:
            client = dev_client(self.settings, agency_id, directory=self.directory)
            await client.start()
            self.clients[agency_id] = client
        return self.clients[agency_id]

    async def stop(self) -> None:
        for client in self.clients.values():
            await client.stop()

    def say(self, text: str) -> None:
        stamp = self.now().astimezone().strftime("%d/%m %Hh%M")
        self.console.print(f"[dim]{stamp}[/]  {text}", highlight=False)

    def indicator_label(self, code: str) -> str:
        """An indicator code with its French label from the shared grid."""
        indicator = self.indicators.get(code)
        return f"{code} {indicator.label_fr}" if indicator else code

    def name(self, agency_id: str) -> str:
        agency = self.directory.get(agency_id)
        return agency.name if agency else agency_id

    async def publish(self, agency_id: str, event: BaseModel, what: str) -> None:
        await (await self.client(agency_id)).publish(event)
        self.say(f"[bold cyan]→[/] [bold]{agency_id}[/] {what}")

    async def expect(
        self,
        agency_id: str,
        case_id: uuid.UUID,
        kind: type[BaseModel],
        *,
        wait_s: float = STEP_TIMEOUT_S,
        describe: bool = True,
    ) -> Any:
        """Wait until ``agency_id`` receives an event of ``kind`` for the case; narrate it."""
        client = await self.client(agency_id)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            for message in await client.receive(expected=1, timeout_s=1.0):
                event = message.event
                if event.envelope.case_id == case_id and isinstance(event, kind):
                    if describe:
                        self.say(
                            f"[bold green]←[/] [bold]{agency_id}[/] reçoit "
                            f"{kind.__name__}{_seen(event, message.headers)}"
                        )
                    return event
        raise TimeoutError(f"{agency_id} did not receive {kind.__name__} for {case_id}")


def _seen(event: BaseModel, headers: dict[str, bytes]) -> str:
    """Which personal data categories a delivered event carries, in French."""
    from hub.contracts.events import subject_of
    from hub.contracts.registry import SchemaRegistry
    from hub.rules.projection import Projector, categories_present

    projector = Projector(SchemaRegistry.load(get_settings().schemas_dir))
    present = categories_present(event.model_dump(), projector.tree(subject_of(type(event))))
    if not present:
        text = " (aucune donnée personnelle)"
    else:
        text = " (" + ", ".join(FRENCH_CATEGORY[c] for c in sorted(present)) + ")"
    if "nrm-safe-channel" in headers:
        text += f" — canal sûr : {headers['nrm-safe-channel'].decode()}"
    return text


E = TypeVar("E", bound=BaseModel)


def pick(case_id: uuid.UUID, kind: type[E]) -> E:
    """The example event of ``kind`` for a case."""
    for _sender, event in example_events(case_id):
        if isinstance(event, kind):
            return event
    raise LookupError(kind.__name__)


def envelope(case_id: uuid.UUID, at: datetime) -> Envelope:
    """A fresh envelope for one of the case's events, at simulated time ``at``."""
    return Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=at)


def french(delta: timedelta) -> str:
    """A delay in French: days and hours, or hours and minutes."""
    days, seconds = delta.days, delta.seconds
    hours = seconds // 3600
    return f"{days} j {hours} h" if days else f"{hours} h {seconds % 3600 // 60} min"
