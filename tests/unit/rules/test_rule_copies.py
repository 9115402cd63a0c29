"""A copy of a rule set made with other rules answers from its own rules: the indexes the
routing rules, the lifecycle and the deadline policy derive on first use are not carried
over by ``model_copy`` (hub/rules/derived_values.py)."""

from __future__ import annotations

import pytest

from hub.contracts.enums import Urgency
from hub.rules.deadlines.policy import DeadlinePolicy, NoDeadlineRule
from hub.rules.lifecycle import Lifecycle
from hub.rules.routing import RoutingRules
from hub.runtime.settings import PROJECT_ROOT

CONFIG = PROJECT_ROOT / "deploy" / "config"


def test_routing_rules_copied_without_a_rule_no_longer_route_its_type() -> None:
    rules = RoutingRules.load(CONFIG)
    first = rules.rules[0]
    assert rules.for_type(first.message_type) is first  # the index is built now
    others = tuple(r for r in rules.rules if r.message_type != first.message_type)
    assert rules.model_copy(update={"rules": others}).for_type(first.message_type) is None


def test_a_lifecycle_copied_without_an_event_no_longer_governs_it() -> None:
    lifecycle = Lifecycle.load(CONFIG)
    event = lifecycle.transitions[0].event
    assert lifecycle.governs(event)
    others = tuple(t for t in lifecycle.transitions if t.event != event)
    assert not lifecycle.model_copy(update={"transitions": others}).governs(event)


def test_a_deadline_policy_copied_with_other_rules_uses_them() -> None:
    policy = DeadlinePolicy.load()
    rule = policy.rules[0]
    found = policy.rule_for(rule.message_type, rule.recipient_role, Urgency.ROUTINE, False)
    assert found.message_type == rule.message_type
    others = tuple(
        r
        for r in policy.rules
        if (r.message_type, r.recipient_role) != (rule.message_type, rule.recipient_role)
    )
    copied = policy.model_copy(update={"rules": others})
    with pytest.raises(NoDeadlineRule):
        copied.rule_for(rule.message_type, rule.recipient_role, Urgency.ROUTINE, False)


def test_a_deadline_rule_copied_with_another_ladder_has_its_steps() -> None:
    rule = DeadlinePolicy.load().rules[0]
    assert rule.steps  # derived now
    shorter = rule.model_copy(update={"ladder": rule.ladder[:1]})
    assert shorter.steps == (rule.ladder[0].step,)
