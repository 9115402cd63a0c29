"""The retention schedule (deploy/config/retention.yaml) as data: every declared topic has an
entry with a reason and a source, and each entry becomes the topic configurations that
``hub topics create`` sets."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hub.contracts.topics import (
    AGENCY_PLACEHOLDER,
    AUDIT,
    CASE_STATE,
    CORE_TOPICS,
    DEAD_LETTERS,
    TopicSpec,
    agency_topics,
    inbox_topic,
    outbox_topic,
)
from hub.runtime.config_files import ConfigError
from hub.runtime.retention import DAY_MS, RetentionSchedule, TopicRetention
from hub.runtime.settings import PROJECT_ROOT

CONFIG = PROJECT_ROOT / "deploy" / "config"
SCHEDULE = RetentionSchedule.load(CONFIG)
PATTERNS = agency_topics([AGENCY_PLACEHOLDER])
WHY = {"reason": "a reason long enough to say something", "source": "hub policy: because"}


def test_every_declared_topic_has_exactly_one_entry() -> None:
    assert SCHEDULE.problems(CORE_TOPICS, PATTERNS) == []


def test_a_missing_or_stray_entry_is_caught() -> None:
    without_audit = SCHEDULE.model_copy(
        update={"topics": tuple(e for e in SCHEDULE.topics if e.topic != AUDIT.name)}
    )
    new = TopicSpec(name="nrm.new", purpose="added later")
    assert without_audit.problems([*CORE_TOPICS, new], PATTERNS) == [
        "nrm.audit: declared topic without a retention entry",
        "nrm.new: declared topic without a retention entry",
    ]
    assert SCHEDULE.problems(CORE_TOPICS[1:], PATTERNS) == [
        f"{CORE_TOPICS[0].name}: a schedule entry for a topic that is not declared"
    ]


def test_no_clear_copy_of_personal_data_is_kept_forever() -> None:
    # The topics that carry personal data in clear must expire (GDPR art. 5(1)(e)).
    for topic in (outbox_topic("police-93"), inbox_topic("police-93"), DEAD_LETTERS.name):
        entry = SCHEDULE.for_topic(topic)
        assert entry is not None
        assert entry.retention_days != "forever", topic
    assert SCHEDULE.personal_data_of_cases.after_last_contact_days <= 3 * 365


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        (inbox_topic("police-93"), {"cleanup.policy": "delete", "retention.ms": str(30 * DAY_MS)}),
        (outbox_topic("police-93"), {"cleanup.policy": "delete", "retention.ms": str(7 * DAY_MS)}),
        (DEAD_LETTERS.name, {"cleanup.policy": "delete", "retention.ms": str(30 * DAY_MS)}),
        (AUDIT.name, {"cleanup.policy": "delete", "retention.ms": "-1"}),
        (
            CASE_STATE.name,
            {
                "cleanup.policy": "compact",
                "retention.ms": "-1",
                "max.compaction.lag.ms": str(7 * DAY_MS),
                "segment.ms": str(7 * DAY_MS),
            },
        ),
    ],
)
def test_each_topic_gets_the_configurations_of_its_entry(
    topic: str, expected: dict[str, str]
) -> None:
    assert SCHEDULE.topic_configs(TopicSpec(name=topic, purpose="x")) == expected


def test_an_undeclared_test_topic_gets_only_its_cleanup_policy() -> None:
    assert SCHEDULE.topic_configs(TopicSpec(name="bench.raw", purpose="x")) == {}
    assert SCHEDULE.topic_configs(TopicSpec(name="x", purpose="x", compacted=True)) == {
        "cleanup.policy": "compact"
    }


@pytest.mark.parametrize(
    ("pattern", "topic", "matches"),
    [
        ("nrm.inbox.<agency>", "nrm.inbox.police-93", True),
        ("nrm.inbox.<agency>", "nrm.inbox.", False),
        ("nrm.inbox.<agency>", "nrm.outbox.police-93", False),
        ("nrm.audit", "nrm.audit", True),
        ("nrm.audit", "nrm.audit.copy", False),
    ],
)
def test_patterns_match_agency_topics_only(pattern: str, topic: str, matches: bool) -> None:
    entry = TopicRetention(topic=pattern, retention_days=1, **WHY)
    assert entry.matches(topic) is matches


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"source": "because we said so"}, "doit citer un article"),
        ({"source": "hub policy: x", "reason": "short"}, "at least 20"),
        ({"retention_days": 0}, "au moins 1"),
        ({"retention_days": "a while"}, "retention_days"),
        ({"max_compaction_lag_days": 7}, "topic compacté"),
        ({"cleanup": "compact"}, "Extra inputs"),
    ],
)
def test_an_entry_without_reason_source_or_valid_period_is_refused(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        TopicRetention.model_validate({"topic": "nrm.x", "retention_days": 3, **WHY, **changes})


@pytest.mark.parametrize(
    "source",
    ["GDPR art. 5(1)(e)", "CNIL délibération n° 2023-095", "RGPD article 17", "hub policy: x"],
)
def test_a_source_citing_a_text_or_saying_hub_policy_is_accepted(source: str) -> None:
    TopicRetention(topic="nrm.x", retention_days=3, reason=WHY["reason"], source=source)


def test_a_file_with_a_topic_twice_is_refused(tmp_path: Any) -> None:
    text = (CONFIG / "retention.yaml").read_text(encoding="utf-8")
    text = text.replace("  - topic: nrm.redrive\n", "  - topic: nrm.deadletters\n")
    (tmp_path / "retention.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"deux fois : nrm\.deadletters"):
        RetentionSchedule.load(tmp_path)
