"""The deadline engine: policy precedence, the ladder, answers, re-routing, orphaned needs.

All in fast time: the clock is a parameter, nothing sleeps and nothing talks to a broker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest
import yaml

from hub.contracts.enums import (
    AckStatus,
    AgencyRole,
    DeadLetterReason,
    DeclineReason,
    EscalationStep,
    IdentificationOutcome,
    NeedKind,
    OrphanReason,
    Urgency,
)
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    Acknowledgement,
    IdentificationDecision,
)
from hub.flow.deadline_index import DeadlineIndex
from hub.rules.deadlines.answers import (
    Closed,
    CloseReason,
    Extended,
    NotExtended,
    Rejected,
    Reroute,
    close,
    next_recipient,
    on_ack,
    on_identification_decision,
    resolve_reroute,
)
from hub.rules.deadlines.ladder import (
    Escalate,
    OrphanedNeed,
    Reminder,
    advance,
    due_steps,
    escalation_event,
)
from hub.rules.deadlines.open_deadline import (
    OpenDeadline,
    Supervisor,
    deadline_id_for,
    open_deadline,
)
from hub.rules.deadlines.policy import (
    REFLECTION_PERIOD_END,
    DeadlinePolicy,
    Duration,
    NoDeadlineRule,
)
from hub.runtime.config_files import ConfigError
from hub.runtime.settings import PROJECT_ROOT

PARIS = ZoneInfo("Europe/Paris")
ACCOMMODATION = "fr.nrm.AccommodationRequested"
REPORT = "fr.nrm.PresumedVictimReport"
PROVIDER = AgencyRole.ACCOMMODATION_PROVIDER
MONDAY_10H = datetime(2025, 3, 3, 10, 0, tzinfo=PARIS)  # an ordinary week, no holiday
SUPERVISOR = Supervisor("coordination-idf", AgencyRole.NATIONAL_COORDINATION)


@pytest.fixture(scope="module")
def policy() -> DeadlinePolicy:
    return DeadlinePolicy.load(PROJECT_ROOT / "deploy" / "config" / "deadlines.yaml")


def paris(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=PARIS)


def request_deadline(
    policy: DeadlinePolicy,
    *,
    recipient: str = "hebergement-93",
    role: AgencyRole = PROVIDER,
    message_type: str = ACCOMMODATION,
    urgency: Urgency = Urgency.ROUTINE,
    minor: bool = False,
    departement: str = "93",
    opened_at: datetime = MONDAY_10H,
    supervisor: Supervisor | None = SUPERVISOR,
) -> OpenDeadline:
    return open_deadline(
        case_id=UUID("6f1c2a9e-0000-4000-8000-000000000001"),
        request_id=UUID("6f1c2a9e-0000-4000-8000-0000000000aa"),
        recipient_agency=recipient,
        recipient_role=role,
        message_type=message_type,
        departement=departement,
        minor=minor,
        urgency=urgency,
        opened_at=opened_at,
        policy=policy,
        supervisor=supervisor,
    )


def ack(
    deadline: OpenDeadline,
    status: AckStatus,
    *,
    sender: str | None = None,
    reason: DeclineReason | None = None,
) -> Acknowledgement:
    return Acknowledgement(
        envelope=Envelope(
            event_id=uuid4(),
            case_id=deadline.case_id,
            occurred_at=datetime.now(UTC),
            sender=sender or deadline.recipient_agency,
            sender_role=deadline.recipient_role,
        ),
        request_id=deadline.request_id,
        status=status,
        decline_reason=reason,
    )


# ------------------------------------------------------------------- policy and matching


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        ({"hours": 0}, "0 hours"),
        ({"hours": 1}, "1 hour"),
        ({"working_days": -1}, "-1 working day"),
        ({"working_days": 5}, "5 working days"),
        ({"days": 30}, "30 days"),
    ],
)
def test_durations_read_as_written(duration: dict[str, int], text: str) -> None:
    assert str(Duration(**duration)) == text


@pytest.mark.parametrize(
    ("message_type", "role", "urgency", "minor", "expected"),
    [
        (ACCOMMODATION, PROVIDER, Urgency.ROUTINE, False, "2 working days"),
        (ACCOMMODATION, PROVIDER, Urgency.UNKNOWN, False, "2 working days"),
        (ACCOMMODATION, PROVIDER, Urgency.ROUTINE, True, "1 working day"),
        (ACCOMMODATION, PROVIDER, Urgency.URGENT, False, "24 hours"),
        (ACCOMMODATION, PROVIDER, Urgency.URGENT, True, "12 hours"),
        (ACCOMMODATION, PROVIDER, Urgency.IMMEDIATE_DANGER, False, "4 hours"),
        (ACCOMMODATION, PROVIDER, Urgency.IMMEDIATE_DANGER, True, "2 hours"),
        (REPORT, AgencyRole.POLICE_GENDARMERIE, Urgency.ROUTINE, False, "5 working days"),
        (REPORT, AgencyRole.POLICE_GENDARMERIE, Urgency.ROUTINE, True, "2 working days"),
        (REPORT, AgencyRole.LABOUR_INSPECTORATE, Urgency.IMMEDIATE_DANGER, True, "1 working day"),
        (REPORT, AgencyRole.CHILD_PROTECTION, Urgency.IMMEDIATE_DANGER, True, "4 hours"),
        ("fr.nrm.PermitRequested", AgencyRole.PREFECTURE, Urgency.ROUTINE, True, "5 working days"),
        (REFLECTION_PERIOD_END, AgencyRole.PREFECTURE, Urgency.URGENT, False, "30 days"),
    ],
)
def test_the_most_specific_matching_rule_wins(
    policy: DeadlinePolicy,
    message_type: str,
    role: AgencyRole,
    urgency: Urgency,
    minor: bool,
    expected: str,
) -> None:
    assert str(policy.rule_for(message_type, role, urgency, minor).duration) == expected


def test_every_policy_entry_cites_its_source_and_says_when_it_is_hub_policy(
    policy: DeadlinePolicy,
) -> None:
    laws = ("CASF", "CESEDA", "Code civil", "Convention", "Directive", "Referral Mechanism")
    for rule in policy.rules:
        assert any(law in rule.source for law in laws), rule.label()
        # Only the reflection period's 30 days is set by law; every other figure is ours.
        from_law = rule.message_type == REFLECTION_PERIOD_END
        assert from_law or "Hub policy" in rule.source, rule.label()


def test_a_message_type_and_role_without_rules_has_no_deadline(policy: DeadlinePolicy) -> None:
    assert not policy.covers(ACCOMMODATION, AgencyRole.OBSERVATORY)
    with pytest.raises(NoDeadlineRule, match="AccommodationRequested → OBSERVATORY"):
        policy.rule_for(ACCOMMODATION, AgencyRole.OBSERVATORY, Urgency.ROUTINE, False)


def test_minors_and_urgent_cases_get_shorter_deadlines(policy: DeadlinePolicy) -> None:
    routine = request_deadline(policy).due_at
    minor = request_deadline(policy, minor=True).due_at
    urgent = request_deadline(policy, urgency=Urgency.URGENT).due_at
    danger = request_deadline(policy, urgency=Urgency.IMMEDIATE_DANGER).due_at
    assert danger < urgent < minor < routine
    assert routine == paris(2025, 3, 5, 23, 59, 59)
    assert urgent == MONDAY_10H + timedelta(hours=24)
    assert danger == MONDAY_10H + timedelta(hours=4)


def test_urgent_accommodation_counts_calendar_hours_over_a_weekend(
    policy: DeadlinePolicy,
) -> None:
    friday_evening = paris(2025, 3, 7, 20, 0)
    deadline = request_deadline(policy, urgency=Urgency.URGENT, opened_at=friday_evening)
    assert deadline.due_at == paris(2025, 3, 8, 20, 0)
    assert deadline.step_at == (
        paris(2025, 3, 8, 20, 0),
        paris(2025, 3, 9, 0, 0),
        paris(2025, 3, 9, 4, 0),
    )


def test_identification_decision_defaults_to_five_working_days_and_moselle_differs(
    policy: DeadlinePolicy,
) -> None:
    thursday = paris(2025, 4, 17, 11, 0)
    kwargs: dict[str, Any] = {"role": AgencyRole.POLICE_GENDARMERIE, "message_type": REPORT}
    paris_due = request_deadline(policy, departement="93", opened_at=thursday, **kwargs).due_at
    moselle_due = request_deadline(policy, departement="57", opened_at=thursday, **kwargs).due_at
    # Thursday + 5: Fri 18, (Easter Monday), Tue 22, Wed 23, Thu 24, Fri 25 in Paris;
    # Good Friday is a holiday in Moselle, so the fifth day is Monday 28.
    assert paris_due == paris(2025, 4, 25, 23, 59, 59)
    assert moselle_due == paris(2025, 4, 28, 23, 59, 59)


# ------------------------------------------------------------------------------- ladder


def fired(index: DeadlineIndex, now: datetime) -> list[tuple[EscalationStep, timedelta]]:
    return [(s.step, s.late_by) for result in index.tick(now) for s in result.steps]


def test_overdue_request_gets_a_reminder_then_each_escalation_once_in_order(
    policy: DeadlinePolicy,
) -> None:
    deadline = request_deadline(policy)
    index = DeadlineIndex()
    index.add(deadline)
    due = paris(2025, 3, 5, 23, 59, 59)
    timeline = [
        paris(2025, 3, 5, 23, 0),  # before the deadline
        due,  # the deadline itself: reminder
        due + timedelta(hours=1),
        due + timedelta(hours=2),
        paris(2025, 3, 6, 23, 59, 59),  # +1 working day: supervisor
        paris(2025, 3, 7, 12, 0),
        paris(2025, 3, 7, 23, 59, 59),  # +2 working days: national coordination
        paris(2025, 3, 8, 12, 0),
        paris(2025, 3, 20, 12, 0),
    ]
    fired_steps = [(now, fired(index, now)) for now in timeline]
    assert [(now, [s for s, _ in steps]) for now, steps in fired_steps if steps] == [
        (due, [EscalationStep.REMINDER]),
        (paris(2025, 3, 6, 23, 59, 59), [EscalationStep.SUPERVISOR]),
        (paris(2025, 3, 7, 23, 59, 59), [EscalationStep.NATIONAL_COORDINATION]),
    ]
    late = {s: late_by for _, steps in fired_steps for s, late_by in steps}
    assert late[EscalationStep.REMINDER] == timedelta(0)
    assert late[EscalationStep.SUPERVISOR] == timedelta(days=1)
    assert late[EscalationStep.NATIONAL_COORDINATION] == timedelta(days=2)
    assert len(index) == 1  # still open: a late answer can still close it


def test_a_clock_jumping_far_ahead_fires_every_step_once_in_order(
    policy: DeadlinePolicy,
) -> None:
    deadline = request_deadline(policy)
    much_later = paris(2025, 6, 1, 12, 0)
    result = advance(deadline, much_later)
    assert [s.step for s in result.steps] == list(deadline.steps)
    assert all(s.late_by == much_later - deadline.due_at for s in result.steps)
    assert result.orphaned is not None
    assert result.orphaned.reason is OrphanReason.PAST_LAST_STEP
    assert result.orphaned.need is NeedKind.ACCOMMODATION
    again = advance(result.deadline, much_later + timedelta(days=30))
    assert again.steps == ()
    assert again.orphaned is None


def test_steps_target_the_recipient_then_its_supervisor_then_national_coordination(
    policy: DeadlinePolicy,
) -> None:
    steps = advance(request_deadline(policy), paris(2025, 6, 1)).steps
    reminder, supervisor, national = steps
    assert isinstance(reminder, Reminder)
    assert (reminder.target_agency, reminder.target_role) == ("hebergement-93", PROVIDER)
    assert isinstance(supervisor, Escalate)
    assert (supervisor.target_agency, supervisor.target_role) == (
        "coordination-idf",
        AgencyRole.NATIONAL_COORDINATION,
    )
    assert isinstance(national, Escalate)
    assert (national.target_agency, national.target_role) == (
        None,
        AgencyRole.NATIONAL_COORDINATION,
    )


def test_without_a_supervisor_in_the_directory_the_supervisor_step_goes_to_operators(
    policy: DeadlinePolicy,
) -> None:
    steps = advance(request_deadline(policy, supervisor=None), paris(2025, 6, 1)).steps
    assert isinstance(steps[1], Escalate)
    assert (steps[1].target_agency, steps[1].target_role) == (
        None,
        AgencyRole.NATIONAL_COORDINATION,
    )


def test_due_steps_is_pure_and_each_step_has_a_stable_idempotency_key(
    policy: DeadlinePolicy,
) -> None:
    deadline = request_deadline(policy)
    now = paris(2025, 3, 6, 23, 59, 59)
    first, second = due_steps(deadline, now), due_steps(deadline, now)
    assert first == second
    assert [s.key for s in first] == [
        (deadline.deadline_id, EscalationStep.REMINDER),
        (deadline.deadline_id, EscalationStep.SUPERVISOR),
    ]
    assert len({s.event_id for s in first}) == 2
    assert advance(advance(deadline, now).deadline, now).steps == ()


def test_escalation_event_carries_how_late_the_answer_is(policy: DeadlinePolicy) -> None:
    deadline = request_deadline(policy)
    step = due_steps(deadline, deadline.due_at + timedelta(hours=3))[0]
    event = escalation_event(step, occurred_at=deadline.due_at + timedelta(hours=3))
    assert event.envelope.event_id == step.event_id
    assert event.late_by_seconds == 3 * 3600
    assert event.request_id == deadline.request_id
    assert event.target_agency == "hebergement-93"
    report = request_deadline(policy, role=AgencyRole.POLICE_GENDARMERIE, message_type=REPORT)
    report_step = due_steps(report, report.due_at)[0]
    assert escalation_event(report_step, occurred_at=report.due_at).request_id is None


# ------------------------------------------------------------------------------ answers


def test_an_ack_before_the_deadline_cancels_the_reminder_and_escalations(
    policy: DeadlinePolicy,
) -> None:
    deadline = request_deadline(policy)
    index = DeadlineIndex()
    index.add(deadline)
    decision = on_ack(deadline, ack(deadline, AckStatus.ACCEPTED), paris(2025, 3, 4, 9), policy)
    assert isinstance(decision, Closed)
    assert decision.reason is CloseReason.ACCEPTED
    assert decision.late_by == timedelta(0)
    assert not decision.resolved_orphan
    index.remove(decision.deadline_id)
    assert fired(index, paris(2025, 6, 1)) == []


def test_completed_closes_too_and_a_late_answer_resolves_the_orphaned_need(
    policy: DeadlinePolicy,
) -> None:
    exhausted = advance(request_deadline(policy), paris(2025, 3, 10, 12)).deadline
    now = paris(2025, 3, 10, 13)
    decision = on_ack(exhausted, ack(exhausted, AckStatus.COMPLETED), now, policy)
    assert isinstance(decision, Closed)
    assert decision.reason is CloseReason.COMPLETED
    assert decision.resolved_orphan
    assert decision.late_by == now - exhausted.due_at


def test_an_answer_from_another_agency_is_a_wrong_responder(policy: DeadlinePolicy) -> None:
    deadline = request_deadline(policy)
    spoofed = ack(deadline, AckStatus.ACCEPTED, sender="hebergement-75")
    decision = on_ack(deadline, spoofed, MONDAY_10H, policy)
    assert isinstance(decision, Rejected)
    assert decision.reason is DeadLetterReason.WRONG_RESPONDER


def test_needs_information_extends_from_the_answer_and_keeps_fired_steps(
    policy: DeadlinePolicy,
) -> None:
    deadline = advance(request_deadline(policy), paris(2025, 3, 6, 9)).deadline
    assert deadline.last_step is EscalationStep.REMINDER
    asked = paris(2025, 3, 6, 10)  # Thursday: 2 working days → Monday 10 March
    decision = on_ack(deadline, ack(deadline, AckStatus.NEEDS_INFORMATION), asked, policy)
    assert isinstance(decision, Extended)
    extended = decision.deadline
    assert decision.previous_due_at == deadline.due_at
    assert extended.deadline_id == deadline.deadline_id
    assert extended.due_at == paris(2025, 3, 10, 23, 59, 59)
    assert extended.step_at[0] == deadline.step_at[0]  # the reminder stays fired
    assert extended.step_at[1:] == (paris(2025, 3, 11, 23, 59, 59), paris(2025, 3, 12, 23, 59, 59))
    assert [s.step for s in advance(extended, paris(2025, 3, 11, 23, 59, 59)).steps] == [
        EscalationStep.SUPERVISOR
    ]


def test_needs_information_extends_at_most_the_configured_number_of_times(
    policy: DeadlinePolicy,
) -> None:
    deadline = request_deadline(policy)
    now = MONDAY_10H
    for _ in range(policy.max_information_extensions):
        now += timedelta(days=1)
        decision = on_ack(deadline, ack(deadline, AckStatus.NEEDS_INFORMATION), now, policy)
        assert isinstance(decision, Extended)
        deadline = decision.deadline
    last = on_ack(deadline, ack(deadline, AckStatus.NEEDS_INFORMATION), now, policy)
    assert last == NotExtended(deadline.deadline_id, policy.max_information_extensions)


# --------------------------------------------------------------- re-routing and orphans


def test_a_decline_reroutes_to_the_next_eligible_agency_with_a_fresh_deadline(
    policy: DeadlinePolicy,
) -> None:
    first = request_deadline(policy, recipient="hebergement-93")
    declined_at = paris(2025, 3, 5, 16, 0)
    decision = on_ack(
        first, ack(first, AckStatus.DECLINED, reason=DeclineReason.NO_CAPACITY), declined_at, policy
    )
    assert isinstance(decision, Reroute)
    assert decision.closed_deadline_id == first.deadline_id
    assert decision.declined_by == ("hebergement-93",)
    assert decision.decline_reason is DeclineReason.NO_CAPACITY
    candidates = ["hebergement-93", "acse-national", "hebergement-75"]
    second = resolve_reroute(
        decision, candidates, declined_at, policy, supervisor_of=lambda _agency: None
    )
    assert isinstance(second, OpenDeadline)
    assert second.recipient_agency == "acse-national"
    assert second.attempt == 1
    assert second.deadline_id == deadline_id_for(first.request_id, "acse-national", 1)
    assert second.deadline_id != first.deadline_id
    assert second.opened_at == declined_at
    assert second.due_at == paris(2025, 3, 7, 23, 59, 59)  # 2 working days from the decline
    assert second.next_step == 0


def test_the_last_decline_raises_an_orphaned_need(policy: DeadlinePolicy) -> None:
    candidates = ["hebergement-93", "acse-national"]
    deadline: OpenDeadline | OrphanedNeed = request_deadline(policy, recipient=candidates[0])
    now = MONDAY_10H
    reroutes: list[Reroute] = []
    for _ in range(len(candidates)):
        assert isinstance(deadline, OpenDeadline)
        decision = on_ack(deadline, ack(deadline, AckStatus.DECLINED), now, policy)
        assert isinstance(decision, Reroute)
        reroutes.append(decision)
        deadline = resolve_reroute(decision, candidates, now, policy)
    assert isinstance(deadline, OrphanedNeed)
    assert deadline.reason is OrphanReason.ALL_DECLINED
    assert deadline.need is NeedKind.ACCOMMODATION
    assert deadline.declined_by == tuple(candidates)
    replayed = resolve_reroute(reroutes[-1], candidates, now, policy)
    assert isinstance(replayed, OrphanedNeed)
    assert replayed.orphan_id == deadline.orphan_id  # idempotent on the orphaned-needs topic


def test_no_candidate_at_all_is_an_orphaned_need_with_no_eligible_agency(
    policy: DeadlinePolicy,
) -> None:
    deadline = request_deadline(policy)
    decision = on_ack(deadline, ack(deadline, AckStatus.DECLINED), MONDAY_10H, policy)
    assert isinstance(decision, Reroute)
    orphan = resolve_reroute(decision, [], MONDAY_10H, policy)
    assert isinstance(orphan, OrphanedNeed)
    assert orphan.reason is OrphanReason.NO_ELIGIBLE_AGENCY


@pytest.mark.parametrize(
    ("candidates", "declined", "expected"),
    [
        (["a", "b", "c"], set(), "a"),
        (["a", "b", "c"], {"a"}, "b"),
        (["a", "b", "c"], {"a", "b"}, "c"),
        (["a", "b", "c"], {"a", "b", "c"}, None),
        ([], set(), None),
        (["a", "a", "b"], {"a"}, "b"),
    ],
)
def test_next_recipient_is_the_first_candidate_that_has_not_declined(
    candidates: list[str], declined: set[str], expected: str | None
) -> None:
    assert next_recipient(candidates, declined) == expected


# ------------------------------------------------------------ identification and others


def decision_event(
    deadline: OpenDeadline, outcome: IdentificationOutcome, role: AgencyRole | None = None
) -> IdentificationDecision:
    return IdentificationDecision(
        envelope=Envelope(
            event_id=uuid4(),
            case_id=deadline.case_id,
            occurred_at=MONDAY_10H,
            sender=deadline.recipient_agency,
        ),
        report_event_id=deadline.request_id,
        outcome=outcome,
        transferred_to_role=role,
    )


def test_an_identification_decision_closes_and_a_transfer_reroutes_to_the_other_role(
    policy: DeadlinePolicy,
) -> None:
    report = request_deadline(
        policy, recipient="police-93", role=AgencyRole.POLICE_GENDARMERIE, message_type=REPORT
    )
    identified = on_identification_decision(
        report, decision_event(report, IdentificationOutcome.IDENTIFIED), MONDAY_10H
    )
    assert isinstance(identified, Closed)
    assert identified.reason is CloseReason.DECIDED
    transferred = on_identification_decision(
        report,
        decision_event(report, IdentificationOutcome.TRANSFERRED, AgencyRole.LABOUR_INSPECTORATE),
        MONDAY_10H,
    )
    assert isinstance(transferred, Reroute)
    assert transferred.recipient_role is AgencyRole.LABOUR_INSPECTORATE
    fresh = resolve_reroute(transferred, ["inspection-travail-93"], MONDAY_10H, policy)
    assert isinstance(fresh, OpenDeadline)
    assert fresh.recipient_role is AgencyRole.LABOUR_INSPECTORATE
    assert fresh.need is NeedKind.IDENTIFICATION


def test_reflection_period_reminds_the_prefecture_five_working_days_before_its_end(
    policy: DeadlinePolicy,
) -> None:
    identified = paris(2025, 3, 3, 15, 0)
    period = request_deadline(
        policy,
        recipient="prefecture-93",
        role=AgencyRole.PREFECTURE,
        message_type=REFLECTION_PERIOD_END,
        opened_at=identified,
    )
    assert period.due_at == paris(2025, 4, 2, 23, 59, 59)
    assert period.step_at == (
        paris(2025, 3, 26, 23, 59, 59),
        paris(2025, 3, 31, 23, 59, 59),
        paris(2025, 4, 2, 23, 59, 59),
    )
    reminder = advance(period, paris(2025, 3, 27, 9)).steps
    assert [s.step for s in reminder] == [EscalationStep.REMINDER]
    assert reminder[0].late_by == timedelta(0)
    assert close(period, paris(2025, 3, 28)).reason is CloseReason.CANCELLED


def test_deadline_ids_are_deterministic_and_records_round_trip_through_json(
    policy: DeadlinePolicy,
) -> None:
    deadline = advance(request_deadline(policy), paris(2025, 3, 6, 9)).deadline
    assert deadline == advance(request_deadline(policy), paris(2025, 3, 6, 9)).deadline
    record = json.loads(json.dumps(deadline.to_dict()))
    assert OpenDeadline.from_dict(record) == deadline


def test_a_naive_clock_is_refused(policy: DeadlinePolicy) -> None:
    with pytest.raises(ValueError, match="naive"):
        due_steps(request_deadline(policy), datetime(2025, 3, 10, 12, 0))


# ------------------------------------------------------------------ policy file refusals


def write_policy(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "deadlines.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def base_policy() -> dict[str, Any]:
    ladder = [{"step": "REMINDER", "after": {"hours": 0}}]
    return {
        "ladders": {"short": ladder},
        "rules": [
            {
                "message_type": ACCOMMODATION,
                "recipient_role": "ACCOMMODATION_PROVIDER",
                "duration": {"working_days": 2},
                "ladder": "short",
                "source": "hub policy, no statutory deadline (test)",
            }
        ],
    }


def broken_policies() -> Iterator[tuple[str, dict[str, Any], str]]:
    no_source = base_policy()
    del no_source["rules"][0]["source"]
    yield "no source", no_source, "rules.0.source : obligatoire, absent"
    two_units = base_policy()
    two_units["rules"][0]["duration"] = {"working_days": 2, "hours": 4}
    yield "two units", two_units, "exactement un de working_days, hours, days"
    unknown_ladder = base_policy()
    unknown_ladder["rules"][0]["ladder"] = "long"
    yield "unknown ladder", unknown_ladder, "pas d'échelle 'long'"
    disordered = base_policy()
    disordered["ladders"]["short"] = [
        {"step": "SUPERVISOR", "after": {"hours": 0}},
        {"step": "REMINDER", "after": {"hours": 1}},
    ]
    yield (
        "ladder out of order",
        disordered,
        "les étapes de ladder doivent être distinctes, dans l'ordre",
    )
    ambiguous = base_policy()
    ambiguous["rules"] += [
        {**ambiguous["rules"][0], "urgency": "URGENT", "duration": {"hours": 24}},
        {**ambiguous["rules"][0], "minor": True, "duration": {"working_days": 1}},
    ]
    yield (
        "ambiguous",
        ambiguous,
        "les règles [1, 2] sont à égalité pour fr.nrm.AccommodationRequested",
    )
    incomplete = base_policy()
    incomplete["rules"][0]["minor"] = True
    yield "incomplete", incomplete, "aucune règle pour fr.nrm.AccommodationRequested"
    unknown_type = base_policy()
    unknown_type["rules"][0]["message_type"] = "fr.nrm.CaseClosed"
    yield "unknown message type", unknown_type, "rules.0.message_type"
    negative = base_policy()
    negative["rules"][0]["duration"] = {"hours": -1}
    yield "negative duration", negative, "la durée ne peut pas être négative"
    duplicate = base_policy()
    duplicate["rules"].append(duplicate["rules"][0])
    yield "duplicate", duplicate, "les règles [0, 1] sont à égalité pour"
    empty = base_policy()
    empty["rules"] = []
    yield "no rules", empty, "rules : la politique n'a aucune règle"


def test_the_committed_policy_file_validates(policy: DeadlinePolicy) -> None:
    assert len(policy.rules) > 20
    assert DeadlinePolicy.load() == policy  # the default path is deploy/config/deadlines.yaml


@pytest.mark.parametrize(("case", "data", "message"), list(broken_policies()))
def test_a_broken_policy_file_is_refused_with_a_clear_message(
    tmp_path: Path, case: str, data: dict[str, Any], message: str
) -> None:
    path = write_policy(tmp_path, data)
    with pytest.raises(ConfigError) as refused:
        DeadlinePolicy.load(path)
    assert str(path) in str(refused.value)
    assert message in str(refused.value), case


def test_a_policy_file_that_is_not_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"deadlines\.yaml"):
        DeadlinePolicy.load(write_policy(tmp_path, "rules: [unclosed"))


def test_the_combined_rule_resolves_the_ambiguity(tmp_path: Path) -> None:
    data = base_policy()
    rule = data["rules"][0]
    data["rules"] += [
        {**rule, "urgency": "URGENT", "duration": {"hours": 24}},
        {**rule, "minor": True, "duration": {"working_days": 1}},
        {**rule, "urgency": "URGENT", "minor": True, "duration": {"hours": 12}},
    ]
    policy = DeadlinePolicy.load(write_policy(tmp_path, data))
    chosen = policy.rule_for(ACCOMMODATION, PROVIDER, Urgency.URGENT, True)
    assert str(chosen.duration) == "12 hours"
