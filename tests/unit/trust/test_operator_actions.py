"""The operator-action key: its configured public half, and the letter's signature a re-drive
carries beside the operator's (never confused with it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.runtime.settings import get_settings
from hub.trust.operator_actions import (
    carried_signature,
    carry_signature,
    operator_action_keys,
    verify_operator_action,
)
from hub.trust.signing import SIGNATURE_HEADERS, RecordSigner
from hub.trust.verification import SignatureError

SETTINGS = get_settings()


def test_the_demo_key_is_configured() -> None:
    (key,) = operator_action_keys(SETTINGS.config_dir)
    assert key == (SETTINGS.config_dir / "operator-actions-public-key.txt").read_text().strip()


@pytest.mark.parametrize(
    "text",
    [None, "", "not base64!", "c2hvcnQ="],
    ids=["missing", "empty", "not base64", "not 32 bytes"],
)
def test_a_missing_or_unusable_key_is_one_clear_line(tmp_path: Path, text: str | None) -> None:
    if text is not None:
        (tmp_path / "operator-actions-public-key.txt").write_text(text)
    with pytest.raises(ValueError, match="clé des actions d'opérateur") as caught:
        operator_action_keys(tmp_path)
    assert "\n" not in str(caught.value)


def test_the_letters_signature_travels_under_other_names_and_comes_back() -> None:
    hub = RecordSigner(Ed25519PrivateKey.generate(), "hub-2026-1")
    signed = hub.sign("nrm.deadletters", b"k", b"v")
    carried = carry_signature([*signed, ("other", b"x")])
    assert {name for name, _ in carried}.isdisjoint(SIGNATURE_HEADERS)
    assert all(name.startswith("nrm-letter-") for name, _ in carried)
    assert sorted(carried_signature([*carried, ("nrm-sig", b"operator")])) == sorted(signed)


def test_a_carried_letter_signature_is_not_an_operator_signature() -> None:
    """The hub's signature of the letter, carried, never passes for the operator's."""
    operator = RecordSigner(Ed25519PrivateKey.generate(), "operator-actions-2026-1")
    headers = carry_signature(operator.sign("nrm.redrive", b"k", b"v"))
    with pytest.raises(SignatureError):
        verify_operator_action("nrm.redrive", b"k", b"v", headers, [operator.public_key_b64])
    verify_operator_action(
        "nrm.redrive",
        b"k",
        b"v",
        operator.sign("nrm.redrive", b"k", b"v"),
        [operator.public_key_b64],
    )
