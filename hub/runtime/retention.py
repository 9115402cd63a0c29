"""The retention schedule as data: ``deploy/config/retention.yaml``.

How long each topic and store keeps what it holds, each entry with its reason and its source
(a law text with its article, or "hub policy" and why). ``hub topics create`` applies the
topic entries as topic configurations (``topic_configs``); ``hub retention run`` and the
routing worker apply the period after the case's last contact at which its personal data is
shredded (its key destroyed: ``personal_data_of_cases``). docs/PRIVACY.md's data map reads
the same entries.

A topic entry names a topic, or an agency topic pattern (``nrm.inbox.<agency>``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.contracts.topics import AGENCY_PLACEHOLDER, TopicSpec
from hub.runtime.config_files import load_config

RETENTION_FILE = "retention.yaml"
DAY_MS = 86_400_000
HUB_POLICY = "hub policy"
_CITES_A_TEXT = re.compile(r"\b(art\.|article|délibération|recital|considérant)\s", re.IGNORECASE)


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field(min_length=20, description="Why this period, in one or two sentences.")
    source: str = Field(
        min_length=8,
        description='The text that sets or supports it (with its article), or "hub policy: why".',
    )

    @field_validator("source")
    @classmethod
    def _names_a_text_or_says_hub_policy(cls, source: str) -> str:
        if source.lower().startswith(HUB_POLICY) or _CITES_A_TEXT.search(source):
            return source
        raise ValueError(
            'la source doit citer un article d\'un texte ou commencer par "hub policy"'
        )


class TopicRetention(_Entry):
    """How long one topic (or agency topic pattern) keeps its records."""

    topic: str
    retention_days: int | Literal["forever"] = Field(
        description='Days a record is kept ("forever": retention.ms = -1).'
    )
    compacted: bool = False
    max_compaction_lag_days: int | None = Field(
        default=None,
        ge=1,
        description="A superseded record of a compacted topic is compacted away within this "
        "(max.compaction.lag.ms; segment.ms too, so the active segment rolls and can be cleaned).",
    )

    @field_validator("retention_days")
    @classmethod
    def _positive(cls, days: int | str) -> int | str:
        if isinstance(days, int) and days < 1:
            raise ValueError("retention_days vaut au moins 1, ou forever")
        return days

    @model_validator(mode="after")
    def _compaction_settings_only_when_compacted(self) -> Self:
        if self.max_compaction_lag_days is not None and not self.compacted:
            raise ValueError("max_compaction_lag_days ne s'applique qu'à un topic compacté")
        return self

    def configs(self) -> dict[str, str]:
        """The Kafka topic configurations this entry sets."""
        configs = {"cleanup.policy": "compact" if self.compacted else "delete"}
        if self.retention_days == "forever":
            configs["retention.ms"] = "-1"
        else:
            configs["retention.ms"] = str(self.retention_days * DAY_MS)
        if self.max_compaction_lag_days is not None:
            lag = str(self.max_compaction_lag_days * DAY_MS)
            configs["max.compaction.lag.ms"] = lag
            configs["segment.ms"] = lag
        return configs

    def matches(self, topic: str) -> bool:
        """Whether this entry covers ``topic`` (exactly, or through its agency pattern)."""
        if AGENCY_PLACEHOLDER not in self.topic:
            return topic == self.topic
        prefix = self.topic.split(AGENCY_PLACEHOLDER)[0]
        return topic.startswith(prefix) and len(topic) > len(prefix)


class StoreRetention(_Entry):
    """How long a store outside the broker (a file, a sqlite database, a key) is kept."""

    store: str
    retention: str = Field(min_length=3, description="What is kept, how long.")
    applied_by: str = Field(min_length=3, description="What applies it, or who must.")


class CaseRetention(_Entry):
    """When the personal data of a case is shredded (its key destroyed): this long after the
    case's last contact, open or closed (``hub.flow.expiry``)."""

    after_last_contact_days: int = Field(ge=1)

    @property
    def period(self) -> timedelta:
        """The period as a duration."""
        return timedelta(days=self.after_last_contact_days)


class RetentionSchedule(BaseModel):
    """Every topic's and store's retention, and the cases' shredding period."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    personal_data_of_cases: CaseRetention
    topics: tuple[TopicRetention, ...]
    stores: tuple[StoreRetention, ...] = ()

    @model_validator(mode="after")
    def _one_entry_per_topic(self) -> Self:
        names = [entry.topic for entry in self.topics]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"topics présents deux fois : {', '.join(twice)}")
        return self

    @classmethod
    def load(cls, config_dir: Path) -> RetentionSchedule:
        """``<config_dir>/retention.yaml`` (ConfigError when it does not validate)."""
        return load_config(config_dir / RETENTION_FILE, cls)

    def for_topic(self, topic: str) -> TopicRetention | None:
        """The entry covering ``topic``: its own, else its agency pattern's."""
        exact = next((e for e in self.topics if e.topic == topic), None)
        return exact or next((e for e in self.topics if e.matches(topic)), None)

    def topic_configs(self, spec: TopicSpec) -> dict[str, str]:
        """The configurations ``hub topics create`` gives ``spec``'s topic. A topic the
        schedule does not name (a test's own topic) gets only its cleanup policy."""
        entry = self.for_topic(spec.name)
        if entry is None:
            return {"cleanup.policy": "compact"} if spec.compacted else {}
        return entry.configs()

    def problems(self, specs: Sequence[TopicSpec], patterns: Iterable[TopicSpec]) -> list[str]:
        """Declared topics without an entry, entries naming no declared topic, and compaction
        that disagrees with the declaration (``patterns``: the agency topic patterns)."""
        declared = {spec.name: spec for spec in [*specs, *patterns]}
        problems = [
            f"{entry.topic}: a schedule entry for a topic that is not declared"
            for entry in self.topics
            if entry.topic not in declared
        ]
        for name, spec in declared.items():
            found = next((e for e in self.topics if e.topic == name), None)
            if found is None:
                problems.append(f"{name}: declared topic without a retention entry")
            elif found.compacted != spec.compacted:
                problems.append(f"{name}: compacted is {spec.compacted} in its declaration")
        return problems
