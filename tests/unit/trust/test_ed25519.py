"""The signature check an attacker would probe: weak public keys and malleable signatures.

Written from the threat, not the code: Ed25519 as RFC 8032 leaves room for keys of small order
(the identity point verifies the signature ``R = identity, S = 0`` on every message) and for
non-canonical encodings. A directory key of that kind would let anyone publish as the agency;
a malleable signature would give one record two valid signature values.
"""

from __future__ import annotations

from base64 import b64encode
from datetime import UTC, datetime

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from hub.contracts.enums import AgencyRole, DeadLetterReason
from hub.rules.directory import Agency, SigningKey
from hub.trust.directory_changes import with_key
from hub.trust.ed25519 import public_key, secret_key, sign, verifies
from hub.trust.signing import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    RecordSigner,
    canonical_bytes,
    public_key_b64,
    public_key_from_b64,
    sign_record,
    to_ms,
)
from hub.trust.verification import RecordVerifier, SignatureError

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TOPIC = "nrm.outbox.police-93"

IDENTITY = bytes([1]) + bytes(31)
"""The neutral point (0, 1): [k]IDENTITY = IDENTITY for every k."""
FORGERY_FOR_IDENTITY = IDENTITY + bytes(32)
"""R = identity, S = 0: [S]B = R + [h]A holds for every message h when A is the identity."""

# Points of small order and non-canonical encodings of them, as libsodium blocks them
# (the identity, the point of order 2, of order 4 (y = 0), two of order 8, y = p and y = p + 1).
SMALL_ORDER = {
    "identity (order 1)": IDENTITY,
    "order 2": bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    "order 4 (y = 0)": bytes(32),
    "order 8": bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    "order 8, other": bytes.fromhex(
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"
    ),
    "y = p, non-canonical": bytes.fromhex(
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
    ),
    "y = p + 1, non-canonical identity": bytes.fromhex(
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
    ),
}
ORDER_L = 2**252 + 27742317777372353535851937790883648493
"""The order of the base point: S and S + L are the same scalar."""

SIGNER = Ed25519PrivateKey.generate()
SIGNER_KEY = public_key(SIGNER.public_key())


def _b64(raw: bytes) -> str:
    return b64encode(raw).decode()


def police_with_key(raw: bytes) -> Agency:
    """An agency whose directory entry holds ``raw`` (as a compromised registration would)."""
    return Agency(
        id="police-93",
        name="Brigade",
        role=AgencyRole.POLICE_GENDARMERIE,
        signing_keys=(SigningKey(key_id="police-93-weak", public_key=_b64(raw)),),
    )


def signature_headers(signature: bytes, timestamp_ms: int) -> list[tuple[str, bytes | None]]:
    return [
        (SIGNATURE_HEADER, signature),
        (KEY_ID_HEADER, b"police-93-weak"),
        (TIMESTAMP_HEADER, str(timestamp_ms).encode()),
    ]


@pytest.mark.parametrize("message", [b"", b"any referral", b"\x00" * 600])
def test_the_identity_key_forgery_verifies_nothing(message: bytes) -> None:
    assert not verifies(public_key(SIGNER.public_key()), FORGERY_FOR_IDENTITY, message)
    with pytest.raises(ValueError, match="ordre faible"):
        public_key(IDENTITY)


def test_a_record_forged_for_a_weak_directory_key_is_a_bad_signature() -> None:
    """The attack end to end: a directory entry holding the identity point, a record signed
    by nobody. It is refused, not accepted as the agency's."""
    timestamp_ms = to_ms(NOW)
    value = b"forged PermitRequested"
    headers = signature_headers(FORGERY_FOR_IDENTITY, timestamp_ms)
    with pytest.raises(SignatureError) as refused:
        RecordVerifier().verify_record(
            TOPIC, b"case", value, headers, police_with_key(IDENTITY), now=NOW
        )
    assert refused.value.reason is DeadLetterReason.BAD_SIGNATURE


@pytest.mark.parametrize("raw", list(SMALL_ORDER.values()), ids=list(SMALL_ORDER))
def test_small_order_and_non_canonical_keys_are_refused_everywhere(raw: bytes) -> None:
    with pytest.raises(ValueError, match="ordre faible"):
        public_key(raw)
    with pytest.raises(ValueError, match="ordre faible"):
        public_key_from_b64(_b64(raw))
    genuine = Agency(
        id="police-93", name="Brigade", role=AgencyRole.POLICE_GENDARMERIE, signing_keys=()
    )
    with pytest.raises(ValueError, match="ordre faible"):
        with_key(genuine, SigningKey(key_id="police-93-weak", public_key=_b64(raw)))


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_a_key_of_the_wrong_size_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="octets"):
        public_key(bytes(size))


def test_a_signature_with_s_plus_l_is_refused() -> None:
    """Malleability: S and S + L are the same scalar; only the canonical S verifies."""
    message = b"referral"
    signature = SIGNER.sign(message)
    s = int.from_bytes(signature[32:], "little")
    malleated = signature[:32] + (s + ORDER_L).to_bytes(32, "little")
    assert verifies(SIGNER_KEY, signature, message)
    assert not verifies(SIGNER_KEY, malleated, message)


@pytest.mark.parametrize("size", [0, 63, 65, 128])
def test_a_signature_of_the_wrong_size_verifies_nothing(size: int) -> None:
    assert not verifies(SIGNER_KEY, bytes(size), b"referral")


@given(
    message=st.binary(max_size=700),
    index=st.integers(0, 63),
    mask=st.integers(1, 255),
    flip_message=st.booleans(),
)
def test_the_check_agrees_with_rfc8032_signers_and_refuses_any_altered_bit(
    message: bytes, index: int, mask: int, flip_message: bool
) -> None:
    """Every genuine signature of a ``cryptography`` key verifies (the agencies' and the hub's
    signers), and one altered bit of the signature or the message fails, as it does for
    OpenSSL."""
    signature = SIGNER.sign(message)
    assert verifies(SIGNER_KEY, signature, message)
    if flip_message and message:
        at = index % len(message)
        altered, altered_signature = (
            message[:at] + bytes([message[at] ^ mask]) + message[at + 1 :],
            signature,
        )
    else:
        altered, altered_signature = (
            message,
            signature[:index] + bytes([signature[index] ^ mask]) + signature[index + 1 :],
        )
    assert not verifies(SIGNER_KEY, altered_signature, altered)
    with pytest.raises(InvalidSignature):
        SIGNER.public_key().verify(altered_signature, altered)


def test_a_genuine_record_still_verifies_for_its_agency() -> None:
    timestamp_ms = to_ms(NOW)
    value = b"genuine"
    signature = SIGNER.sign(canonical_bytes(TOPIC, b"case", value, timestamp_ms))
    agency = Agency(
        id="police-93",
        name="Brigade",
        role=AgencyRole.POLICE_GENDARMERIE,
        signing_keys=(SigningKey(key_id="police-93-weak", public_key=public_key_b64(SIGNER)),),
    )
    key_id = RecordVerifier().verify_record(
        TOPIC, b"case", value, signature_headers(signature, timestamp_ms), agency, now=NOW
    )
    assert key_id == "police-93-weak"


OTHER_SIGNERS = [Ed25519PrivateKey.generate() for _ in range(3)]


@given(message=st.binary(max_size=1200), which=st.integers(0, len(OTHER_SIGNERS) - 1))
def test_libsodium_signs_the_very_bytes_cryptography_signs(message: bytes, which: int) -> None:
    """Ed25519 is deterministic: the hub's signatures (libsodium) are the bytes an agency's
    ``cryptography`` signer makes, so recipients and the audit log see no change."""
    private = OTHER_SIGNERS[which]
    assert sign(secret_key(private), message) == private.sign(message)


def test_a_signer_signs_records_and_batch_roots_as_cryptography_does() -> None:
    signer = RecordSigner(SIGNER, "police-93-weak")
    headers = signer.sign(TOPIC, b"case", b"value", timestamp_ms=to_ms(NOW))
    assert headers == sign_record(
        SIGNER, "police-93-weak", TOPIC, b"case", b"value", timestamp_ms=to_ms(NOW)
    )
    assert dict(headers)[SIGNATURE_HEADER] == SIGNER.sign(
        canonical_bytes(TOPIC, b"case", b"value", to_ms(NOW))
    )
    assert signer.sign_bytes(b"root") == SIGNER.sign(b"root")


def test_a_secret_key_never_shows_its_bytes() -> None:
    secret = secret_key(SIGNER)
    shown = [repr(secret), str(secret), f"{secret}", "%s" % secret]  # noqa: UP031
    assert shown == ["SecretKey(…)"] * 4
