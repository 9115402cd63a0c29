"""A broker's refusal reaches the operator in French: a reason, what to do, and aiokafka's
class name only as a code in parentheses (issue 22: French for operator screens)."""

from __future__ import annotations

import pytest
from aiokafka.errors import (
    CoordinatorNotAvailableError,
    GroupAuthorizationFailedError,
    KafkaError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
    UnknownError,
    UnknownTopicOrPartitionError,
)
from french_screens import english_left

from hub.cli.context import CHECK_FAILED, explain
from hub.runtime.settings import HubSettings

SETTINGS = HubSettings(bootstrap_servers="127.0.0.1:9")


class _NewBrokerError(UnknownTopicOrPartitionError):
    """A subclass aiokafka might add: it takes its parent's reason."""


@pytest.mark.parametrize(
    ("error", "reason", "advice"),
    [
        (
            UnknownTopicOrPartitionError("topic nrm.audit missing"),
            "topic ou partition inconnu",
            "hub topics create",
        ),
        (NotLeaderForPartitionError(), "ne dirige plus la partition", "réessayez"),
        (RequestTimedOutError(), "pas répondu à temps", "réessayez"),
        (CoordinatorNotAvailableError(), "coordinateur de groupe indisponible", "réessayez"),
        (TopicAuthorizationFailedError(), "accès au topic refusé", "hub acls"),
        (GroupAuthorizationFailedError(), "accès au groupe", "hub acls"),
        (UnknownError("[Error -1] the broker failed"), "erreur interne du broker", "journaux"),
        (_NewBrokerError("whatever"), "topic ou partition inconnu", "hub topics create"),
        (KafkaError("something new and English"), "erreur du broker", "hub topics create"),
    ],
)
def test_a_broker_refusal_is_a_french_reason_with_the_class_as_a_code(
    error: KafkaError, reason: str, advice: str
) -> None:
    line, code = explain(error, SETTINGS)
    assert code == CHECK_FAILED
    assert line.startswith("le broker 127.0.0.1:9 a refusé la demande : ")
    assert reason in line
    assert advice in line
    assert f"({type(error).__name__})" in line
    assert str(error) not in line or not str(error)  # aiokafka's English text stays out
    assert english_left(line, [type(error).__name__, "topics", "create", "acls"]) == []


def test_every_reason_names_a_class_aiokafka_raises() -> None:
    """A misspelt or aliased name would never match and fall back to the generic reason."""
    import aiokafka.errors

    from hub.cli.broker_reasons import REASONS

    classes = {
        value.__name__
        for value in vars(aiokafka.errors).values()
        if isinstance(value, type) and issubclass(value, KafkaError)
    }
    assert sorted(set(REASONS) - classes) == []
