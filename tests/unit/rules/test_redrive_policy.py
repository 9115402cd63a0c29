"""Which dead letters may be re-driven: a forged, unsigned or altered record never; one that
a fix outside the record (directory, schema, configuration, the hub) can make pass, yes."""

from __future__ import annotations

import pytest

from hub.contracts.enums import DeadLetterReason as R
from hub.rules.redrive import Original, forged_envelope, redrive_refusal

CAN_HELP = {
    R.UNKNOWN: True,  # the hub cannot tell: the operator judges
    R.CORRUPT_FRAME: False,  # the same bytes, the same error
    R.UNKNOWN_SCHEMA_ID: True,  # the schema is registered later
    R.SCHEMA_VIOLATION: True,  # a hub fix in decoding
    R.SEMANTIC_VIOLATION: True,  # a hub fix in validation
    R.SPOOFED_SENDER: True,  # from an outbox nobody owned yet: the agency is added
    R.OVERSIZE: True,  # the limit is configuration
    R.NO_ELIGIBLE_RECIPIENT: True,  # an agency is added to the directory
    R.BAD_SIGNATURE: False,  # unsigned, altered or forged
    R.STALE_SIGNATURE: False,  # checked again as at first arrival
    R.REPLAYED: False,  # a duplicate stays a duplicate
    R.NOT_AN_IDENTIFYING_AUTHORITY: True,  # the directory had the wrong role
    R.INVALID_TRANSITION: True,  # the event that opens the way arrives later
    R.UNKNOWN_REQUEST: True,  # the request arrives after its answer
    R.WRONG_RESPONDER: False,  # only the asked agency may answer
    R.PROCESSING_ERROR: True,  # a hub bug, fixed
    R.DELIVERY_FAILED: True,  # the webhook is repaired
    R.UNKNOWN_INDICATOR: True,  # the indicator grid gains the code
    R.INDICATOR_FORM_MISMATCH: True,  # the grid widens the indicator's forms
    R.NOT_IN_PERMIT_ROUTE: False,  # never a permit request for an EU national by a click
    R.NOT_CHOSEN: True,  # the information or the new choice arrives later
}


def test_every_reason_is_decided() -> None:
    """A new reason must be placed here on purpose, not offered a re-drive by default."""
    assert set(CAN_HELP) == set(R)


@pytest.mark.parametrize(("reason", "can_help"), sorted(CAN_HELP.items()))
def test_redrive_is_offered_only_where_a_fix_can_help(reason: R, can_help: bool) -> None:
    refusal = redrive_refusal(reason, hub_signed=True)
    assert (refusal is None) is can_help
    if refusal is not None:  # the operator is told why, in French
        assert refusal
        assert refusal[0].islower()
        assert " : " in refusal


@pytest.mark.parametrize("reason", [r for r, ok in CAN_HELP.items() if ok])
def test_an_original_cut_or_not_kept_can_never_pass_again(reason: R) -> None:
    erased = redrive_refusal(reason, hub_signed=True, original=Original.NOT_KEPT)
    assert erased is not None
    assert "effacées" in erased
    refusal = redrive_refusal(reason, hub_signed=True, original=Original.CUT)
    assert refusal is not None
    assert "tronqué" in refusal


@pytest.mark.parametrize(
    ("claimed", "owner", "forged"),
    [
        ("police-93", "police-75", True),  # names another agency than the outbox's owner
        ("police-93", None, True),  # names an agency, from an outbox nobody owns
        (None, None, False),  # unowned outbox, no claim: the directory lacked the agency
        ("police-93", "police-93", False),
    ],
)
def test_a_forged_sender_is_never_redriven(
    claimed: str | None, owner: str | None, forged: bool
) -> None:
    assert forged_envelope(claimed, owner) is forged
    refusal = redrive_refusal(
        R.SPOOFED_SENDER, hub_signed=True, forged=forged_envelope(claimed, owner)
    )
    assert (refusal is not None and "usurpé" in refusal) is forged


def test_a_forged_record_is_refused_for_its_forgery_even_when_cut() -> None:
    refusal = redrive_refusal(R.SPOOFED_SENDER, hub_signed=True, original=Original.CUT, forged=True)
    assert refusal is not None
    assert "usurpé" in refusal


@pytest.mark.parametrize("reason", sorted(R))
def test_a_letter_the_hub_did_not_sign_is_never_redriven(reason: R) -> None:
    """Anyone who can produce to nrm.deadletters can write a letter, back-dated, holding a
    forged original: only a letter the hub's signature proves is ever pushed through."""
    refusal = redrive_refusal(reason, hub_signed=False)
    assert refusal is not None
    assert "pas signée par le hub" in refusal


@pytest.mark.parametrize("reason", sorted(R))
def test_the_refusal_of_a_redrive_is_never_redriven_itself(reason: R) -> None:
    """A letter whose source is nrm.redrive refused a re-drive: re-driving it would feed the
    worker a dead letter as if it were an agency's record; the original letter is the one."""
    refusal = redrive_refusal(reason, hub_signed=True, from_redrive=True)
    assert refusal is not None
    assert "lettre morte d'origine" in refusal
