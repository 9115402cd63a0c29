"""The public page's guards: rate limits that forget the client, form tokens that cannot be
forged, reused elsewhere or kept forever; and what the form accepts (tables of cases)."""

from __future__ import annotations

import pytest

from connectors.public_report.config import PublicReportSettings
from connectors.public_report.form import Refused, addition_from, report_from
from connectors.public_report.guards import ClientBuckets, FormTokens, Rate
from connectors.public_report.intake import (
    Status,
    case_of,
    new_reference,
    normalized,
    status_after,
)
from hub.contracts.enums import AckStatus, ExploitationType, Urgency
from hub.contracts.witness import WitnessReport

LIMITS = PublicReportSettings()
DEPARTEMENTS = {"93": "Seine-Saint-Denis", "2A": "Corse-du-Sud"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_gets_its_burst_then_waits_and_another_client_is_not_held() -> None:
    clock = Clock()
    buckets = ClientBuckets(Rate.per_hour(6, 3), rotation_s=3600, max_clients=100, clock=clock)
    assert [buckets.take("203.0.113.5") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("203.0.113.5") == pytest.approx(600.0)  # 6 an hour: one per 10 min
    assert buckets.take("198.51.100.7") == 0.0
    clock.now += 600
    assert buckets.take("203.0.113.5") == 0.0


def test_the_limits_hold_no_address_and_forget_everything_at_rotation() -> None:
    clock = Clock()
    buckets = ClientBuckets(Rate.per_hour(6, 1), rotation_s=60, max_clients=100, clock=clock)
    buckets.take("203.0.113.5")
    assert all(b"203.0.113.5" not in key for key in buckets.held_keys())
    first = buckets.held_keys()
    clock.now += 61
    assert buckets.take("203.0.113.5") == 0.0  # a new salt: the old bucket is gone
    assert buckets.held_keys() != first
    assert len(buckets.held_keys()) == 1


def test_the_limits_hold_a_bounded_number_of_clients() -> None:
    buckets = ClientBuckets(Rate.per_hour(6, 1), rotation_s=3600, max_clients=10)
    for n in range(50):
        buckets.take(f"10.0.0.{n}")
    assert len(buckets.held_keys()) == 10


def test_form_tokens_match_their_cookie_verify_and_expire() -> None:
    clock = Clock()
    tokens = FormTokens(b"k" * 32, lifetime_s=60, clock=clock)
    token = tokens.issue()
    assert tokens.valid(token, token)
    assert not tokens.valid(token, None)  # no cookie: a cross-site form
    assert not tokens.valid(None, token)
    assert not tokens.valid(token, tokens.issue())  # another page's cookie
    other = FormTokens(b"x" * 32, lifetime_s=60, clock=clock).issue()
    assert not tokens.valid(other, other)  # signed by someone else
    body, _, _ = token.rpartition(".")
    assert not tokens.valid(body + ".AAAA", body + ".AAAA")
    clock.now += 61
    assert not tokens.valid(token, token)


def test_references_are_long_random_and_stand_for_one_case_under_one_secret() -> None:
    references = {new_reference() for _ in range(1000)}
    assert len(references) == 1000
    reference = references.pop()
    assert len(normalized(reference) or "") == 24  # 120 bits of base32
    assert case_of(b"s", reference) == case_of(b"s", reference.lower().replace("-", " "))
    assert case_of(b"s", reference) != case_of(b"t", reference)
    assert case_of(b"s", "not a reference") is None


@pytest.mark.parametrize(
    ("current", "answer", "after"),
    [
        (Status.RECEIVED, AckStatus.ACCEPTED, Status.IN_REVIEW),
        (Status.IN_REVIEW, AckStatus.NEEDS_INFORMATION, Status.MORE_INFORMATION),
        (Status.IN_REVIEW, AckStatus.COMPLETED, Status.DONE),
        (Status.DONE, AckStatus.ACCEPTED, Status.DONE),
        (Status.RECEIVED, AckStatus.DECLINED, Status.RECEIVED),
    ],
)
def test_the_status_a_reporter_sees(current: Status, answer: AckStatus, after: Status) -> None:
    assert status_after(current, answer) is after


GOOD = {"danger": "non", "vu": "Des ouvriers dorment sur place.", "departement": "93"}


@pytest.mark.parametrize(
    ("form", "errors"),
    [
        ({**GOOD, "danger": ""}, ("err_danger",)),
        ({**GOOD, "vu": "   "}, ("err_seen",)),
        ({**GOOD, "departement": "99"}, ("err_departement",)),
        ({**GOOD, "departement": "<script>"}, ("err_departement",)),
        ({**GOOD, "vu": "x" * 4001}, ("err_long",)),
        ({**GOOD, "contact": "y" * 201}, ("err_long",)),
        ({**GOOD, "anonyme": "oui", "nom": "Jean"}, ("err_contact_anonymous",)),
    ],
)
def test_what_the_form_refuses(form: dict[str, str], errors: tuple[str, ...]) -> None:
    assert report_from(form, DEPARTEMENTS, LIMITS) == Refused(errors)


def test_what_the_form_makes_of_a_report() -> None:
    made = report_from(
        {
            **GOOD,
            "danger": "oui",
            "forme_LABOUR": "oui",
            "forme_UNKNOWN": "oui",
            "forme_NOT_A_FORM": "oui",
            "mineur": "oui",
            "langue": "en",
        },
        DEPARTEMENTS,
        LIMITS,
    )
    assert isinstance(made, WitnessReport)
    assert made.urgency is Urgency.IMMEDIATE_DANGER
    assert made.immediate_danger
    assert made.minor_suspected
    assert made.exploitation_types == (ExploitationType.LABOUR,)
    assert made.language == "en"
    assert made.anonymous  # no name, no contact: anonymous whatever the box says
    with_contact = report_from({**GOOD, "contact": "t@example.org"}, DEPARTEMENTS, LIMITS)
    assert isinstance(with_contact, WitnessReport)
    assert not with_contact.anonymous


def test_an_addition_needs_something_and_is_bounded() -> None:
    assert addition_from({}, LIMITS) == Refused(("err_seen",))
    assert addition_from({"complement": "z" * 4001}, LIMITS) == Refused(("err_long",))
    assert addition_from({"contact": "t@example.org"}, LIMITS) != Refused(("err_seen",))
