"""Signed records: only the agency that owns an outbox can publish on it, and only the hub can
deliver as the hub. Every failure is a SignatureError with a dead letter reason."""

from __future__ import annotations

import stat
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from hub.cli.keys import keys_app
from hub.contracts.enums import AgencyRole, DeadLetterReason
from hub.rules.directory import Agency, Directory, SigningKey
from hub.runtime.settings import PROJECT_ROOT
from hub.trust.agency_keys import (
    KeyFileError,
    dev_key_path,
    load_private_key,
    private_key_from_pem,
    write_private_key,
)
from hub.trust.signing import (
    DOMAIN,
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_HEADERS,
    TIMESTAMP_HEADER,
    HubSigner,
    RecordSigner,
    canonical_bytes,
    public_key_b64,
    sign_record,
    to_ms,
    without_signature,
)
from hub.trust.verification import (
    RecordVerifier,
    SignatureError,
    SignaturePolicy,
    parse_signature_headers,
    verify_from_hub,
)

CONFIG_DIR = PROJECT_ROOT / "deploy" / "config"
DEV_KEYS = CONFIG_DIR / "dev-keys"
HUB_PUBLIC_KEY = (CONFIG_DIR / "hub-public-key.txt").read_text().strip()

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
NOW_MS = to_ms(NOW)
TOPIC = "nrm.outbox.police-93"
KEY = b"case-0001"
VALUE = b"\x00\x00\x00\x00\x07" + bytes(range(256)) * 2 + b"referral"

POLICE_KEY = Ed25519PrivateKey.generate()
POLICE_NEXT_KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()
POLICE_KEY_ID = "police-93-2026-1"
POLICE = Agency(
    id="police-93",
    name="Brigade de répression de la traite",
    role=AgencyRole.POLICE_GENDARMERIE,
    departements=("93",),
    signing_keys=(SigningKey(key_id=POLICE_KEY_ID, public_key=public_key_b64(POLICE_KEY)),),
)
OTHER = Agency(
    id="association-93",
    name="Association",
    role=AgencyRole.SUPPORT_ASSOCIATION,
    signing_keys=(
        SigningKey(key_id="association-93-2026-1", public_key=public_key_b64(OTHER_KEY)),
    ),
)

verifier = RecordVerifier()


def signed(
    private_key: Ed25519PrivateKey = POLICE_KEY,
    key_id: str = POLICE_KEY_ID,
    *,
    topic: str = TOPIC,
    key: bytes | None = KEY,
    value: bytes | None = VALUE,
    timestamp_ms: int = NOW_MS,
) -> list[tuple[str, bytes]]:
    return sign_record(private_key, key_id, topic, key, value, timestamp_ms=timestamp_ms)


def reason_of(
    headers: object,
    *,
    topic: str = TOPIC,
    key: bytes | None = KEY,
    value: bytes | None = VALUE,
    agency: Agency = POLICE,
    record_verifier: RecordVerifier = verifier,
) -> DeadLetterReason:
    with pytest.raises(SignatureError) as caught:
        record_verifier.verify_record(topic, key, value, headers, agency, NOW)  # type: ignore[arg-type]
    return caught.value.reason


def replaced(headers: list[tuple[str, bytes]], name: str, value: bytes) -> list[tuple[str, bytes]]:
    return [(n, value if n == name else v) for n, v in headers]


# --- a correctly signed record ------------------------------------------------------------


def test_a_correctly_signed_record_verifies_and_names_its_key() -> None:
    assert verifier.verify_record(TOPIC, KEY, VALUE, signed(), POLICE, NOW) == POLICE_KEY_ID


def test_signature_headers_are_the_three_fixed_names() -> None:
    headers = signed()
    assert [name for name, _ in headers] == [SIGNATURE_HEADER, KEY_ID_HEADER, TIMESTAMP_HEADER]
    assert dict(headers)["nrm-ts"] == str(NOW_MS).encode()
    assert len(dict(headers)["nrm-sig"]) == 64
    assert dict(headers)["nrm-key-id"] == POLICE_KEY_ID.encode()


def test_other_headers_travel_alongside_the_signature() -> None:
    headers = [("traceparent", b"00-abc"), *signed(), ("content-type", b"avro")]
    assert verifier.verify_record(TOPIC, KEY, VALUE, headers, POLICE, NOW) == POLICE_KEY_ID
    assert without_signature(headers) == [("traceparent", b"00-abc"), ("content-type", b"avro")]


records = st.tuples(
    st.text(min_size=1, max_size=60),
    st.none() | st.binary(max_size=40),
    st.none() | st.binary(max_size=2000),
    st.integers(min_value=NOW_MS - 86_400_000, max_value=NOW_MS + 300_000),
)


@given(records)
def test_any_signed_record_verifies(record: tuple[str, bytes | None, bytes | None, int]) -> None:
    topic, key, value, ts = record
    headers = signed(topic=topic, key=key, value=value, timestamp_ms=ts)
    assert verifier.verify_record(topic, key, value, headers, POLICE, NOW) == POLICE_KEY_ID


# --- tampering: any change to what is signed ----------------------------------------------


@given(records, st.text(min_size=1, max_size=60))
def test_changing_the_topic_fails(
    record: tuple[str, bytes | None, bytes | None, int], other_topic: str
) -> None:
    topic, key, value, ts = record
    if other_topic == topic:
        other_topic += "x"
    headers = signed(topic=topic, key=key, value=value, timestamp_ms=ts)
    assert reason_of(headers, topic=other_topic, key=key, value=value) is (
        DeadLetterReason.BAD_SIGNATURE
    )


@given(records, st.none() | st.binary(max_size=40))
def test_changing_the_key_fails(
    record: tuple[str, bytes | None, bytes | None, int], other_key: bytes | None
) -> None:
    topic, key, value, ts = record
    if other_key == key:
        other_key = b"x" if key is None else None
    headers = signed(topic=topic, key=key, value=value, timestamp_ms=ts)
    assert reason_of(headers, topic=topic, key=other_key, value=value) is (
        DeadLetterReason.BAD_SIGNATURE
    )


@given(records, st.none() | st.binary(max_size=2000))
def test_changing_the_value_fails(
    record: tuple[str, bytes | None, bytes | None, int], other_value: bytes | None
) -> None:
    topic, key, value, ts = record
    if other_value == value:
        other_value = b"x" if value is None else None
    headers = signed(topic=topic, key=key, value=value, timestamp_ms=ts)
    assert reason_of(headers, topic=topic, key=key, value=other_value) is (
        DeadLetterReason.BAD_SIGNATURE
    )


@given(st.integers(min_value=0, max_value=10**15 - 1))
def test_changing_the_timestamp_fails(other_ts: int) -> None:
    if other_ts == NOW_MS:
        other_ts += 1
    headers = replaced(signed(), TIMESTAMP_HEADER, str(other_ts).encode())
    # The signature is checked before the window: a forged timestamp is never "stale".
    assert reason_of(headers) is DeadLetterReason.BAD_SIGNATURE


@given(st.integers(min_value=0, max_value=63), st.integers(min_value=1, max_value=255))
def test_changing_any_signature_byte_fails(index: int, mask: int) -> None:
    headers = signed()
    signature = bytearray(dict(headers)[SIGNATURE_HEADER])
    signature[index] ^= mask
    assert reason_of(replaced(headers, SIGNATURE_HEADER, bytes(signature))) is (
        DeadLetterReason.BAD_SIGNATURE
    )


def test_null_and_empty_key_or_value_are_different_records() -> None:
    assert reason_of(signed(key=None), key=b"") is DeadLetterReason.BAD_SIGNATURE
    assert reason_of(signed(value=b""), value=None) is DeadLetterReason.BAD_SIGNATURE


def test_a_record_copied_to_another_agencys_outbox_does_not_verify_as_that_agency() -> None:
    headers = signed()
    assert reason_of(headers, topic="nrm.outbox.association-93", agency=OTHER) is (
        DeadLetterReason.BAD_SIGNATURE
    )


# --- spoofed senders ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "key_id"),
    [
        ("another agency's key under the owner's key id", POLICE_KEY_ID),
        ("another agency's key under its own key id", "association-93-2026-1"),
        ("another agency's key under an invented key id", "police-93-2099-9"),
    ],
)
def test_a_record_signed_by_another_agency_never_verifies(case: str, key_id: str) -> None:
    assert reason_of(signed(OTHER_KEY, key_id)) is DeadLetterReason.BAD_SIGNATURE, case


def test_an_agency_without_keys_cannot_publish() -> None:
    keyless = POLICE.model_copy(update={"signing_keys": ()})
    assert reason_of(signed(), agency=keyless) is DeadLetterReason.BAD_SIGNATURE


def test_a_malformed_directory_key_dead_letters_instead_of_crashing() -> None:
    broken = POLICE.model_copy(
        update={"signing_keys": (SigningKey(key_id=POLICE_KEY_ID, public_key="not base64!"),)}
    )
    with pytest.raises(SignatureError) as caught:
        RecordVerifier().verify_record(TOPIC, KEY, VALUE, signed(), broken, NOW)
    assert caught.value.reason is DeadLetterReason.BAD_SIGNATURE
    assert "malformed" in caught.value.detail


# --- unsigned and garbage headers ---------------------------------------------------------


def _without(name: str) -> list[tuple[str, bytes]]:
    return [(n, v) for n, v in signed() if n != name]


GOOD = signed()
GARBAGE_HEADERS: list[tuple[str, object]] = [
    ("no headers at all (None)", None),
    ("empty header list", []),
    ("only unrelated headers", [("content-type", b"avro")]),
    ("signature missing", _without(SIGNATURE_HEADER)),
    ("key id missing", _without(KEY_ID_HEADER)),
    ("timestamp missing", _without(TIMESTAMP_HEADER)),
    ("signature header twice", [*GOOD, (SIGNATURE_HEADER, dict(GOOD)[SIGNATURE_HEADER])]),
    ("signature of 63 bytes", replaced(GOOD, SIGNATURE_HEADER, bytes(63))),
    ("signature of 65 bytes", replaced(GOOD, SIGNATURE_HEADER, bytes(65))),
    ("signature as base64 text", replaced(GOOD, SIGNATURE_HEADER, b"A" * 88)),
    ("null signature value", replaced(GOOD, SIGNATURE_HEADER, None)),  # type: ignore[arg-type]
    ("empty key id", replaced(GOOD, KEY_ID_HEADER, b"")),
    ("key id not UTF-8", replaced(GOOD, KEY_ID_HEADER, b"\xff\xfe")),
    ("key id of 65 bytes", replaced(GOOD, KEY_ID_HEADER, b"k" * 65)),
    ("timestamp empty", replaced(GOOD, TIMESTAMP_HEADER, b"")),
    ("timestamp not a number", replaced(GOOD, TIMESTAMP_HEADER, b"yesterday")),
    ("timestamp with spaces", replaced(GOOD, TIMESTAMP_HEADER, b" %d " % NOW_MS)),
    ("timestamp with a sign", replaced(GOOD, TIMESTAMP_HEADER, b"+%d" % NOW_MS)),
    ("timestamp with underscores", replaced(GOOD, TIMESTAMP_HEADER, b"1_772_445_600_000")),
    ("timestamp with a leading zero", replaced(GOOD, TIMESTAMP_HEADER, b"0%d" % NOW_MS)),
    ("timestamp negative", replaced(GOOD, TIMESTAMP_HEADER, b"-1")),
    ("timestamp in seconds with decimals", replaced(GOOD, TIMESTAMP_HEADER, b"1772445600.0")),
    ("timestamp in Arabic-Indic digits", replaced(GOOD, TIMESTAMP_HEADER, "١٢٣".encode())),
    ("timestamp of 16 digits", replaced(GOOD, TIMESTAMP_HEADER, b"1" * 16)),
    ("headers that are not pairs", [(SIGNATURE_HEADER,)]),
    ("headers that are not a list of tuples", [b"nrm-sig"]),
    ("a header name that is not hashable", [([1], b"x")]),
]


@pytest.mark.parametrize(
    "headers", [h for _, h in GARBAGE_HEADERS], ids=[c for c, _ in GARBAGE_HEADERS]
)
def test_unsigned_or_malformed_headers_are_bad_signatures(headers: object) -> None:
    assert reason_of(headers) is DeadLetterReason.BAD_SIGNATURE


header_names = st.sampled_from(sorted(SIGNATURE_HEADERS)) | st.text(max_size=12)
header_values = st.none() | st.binary(max_size=80) | st.just(str(NOW_MS).encode())


@given(st.lists(st.tuples(header_names, header_values), max_size=6))
def test_arbitrary_headers_only_ever_raise_signature_error(
    headers: list[tuple[str, bytes | None]],
) -> None:
    try:
        verifier.verify_record(TOPIC, KEY, VALUE, headers, POLICE, NOW)
    except SignatureError as error:
        assert error.reason is DeadLetterReason.BAD_SIGNATURE
    else:
        pytest.fail("random headers verified")


# --- the time window ----------------------------------------------------------------------

DAY_MS = 86_400_000
FIVE_MIN_MS = 300_000


@pytest.mark.parametrize(
    ("offset_ms", "accepted"),
    [
        (0, True),
        (-DAY_MS, True),
        (-DAY_MS - 1, False),
        (-30 * DAY_MS, False),
        (FIVE_MIN_MS, True),
        (FIVE_MIN_MS + 1, False),
        (DAY_MS, False),
    ],
)
def test_signatures_outside_the_window_are_stale(offset_ms: int, accepted: bool) -> None:
    headers = signed(timestamp_ms=NOW_MS + offset_ms)
    if accepted:
        assert verifier.verify_record(TOPIC, KEY, VALUE, headers, POLICE, NOW) == POLICE_KEY_ID
    else:
        assert reason_of(headers) is DeadLetterReason.STALE_SIGNATURE


def test_the_window_is_a_policy() -> None:
    headers = signed(timestamp_ms=NOW_MS - 3 * DAY_MS)
    wide = RecordVerifier(SignaturePolicy(past_window=timedelta(days=7)))
    assert wide.verify_record(TOPIC, KEY, VALUE, headers, POLICE, NOW) == POLICE_KEY_ID
    unbounded = RecordVerifier(SignaturePolicy(past_window=None, future_window=None))
    far_future = signed(timestamp_ms=NOW_MS + 365 * DAY_MS)
    assert unbounded.verify_record(TOPIC, KEY, VALUE, far_future, POLICE, NOW) == POLICE_KEY_ID


def test_a_forged_record_is_a_bad_signature_even_when_stale() -> None:
    headers = signed(OTHER_KEY, POLICE_KEY_ID, timestamp_ms=NOW_MS - 30 * DAY_MS)
    assert reason_of(headers) is DeadLetterReason.BAD_SIGNATURE


def test_disabled_verification_accepts_anything_for_benchmarks_only() -> None:
    off = RecordVerifier(SignaturePolicy(enabled=False))
    assert off.verify_record(TOPIC, KEY, VALUE, None, POLICE, NOW) is None


# --- key rotation -------------------------------------------------------------------------

ROTATION = NOW - timedelta(hours=1)
ROTATING = POLICE.model_copy(
    update={
        "signing_keys": (
            SigningKey(
                key_id=POLICE_KEY_ID, public_key=public_key_b64(POLICE_KEY), valid_until=ROTATION
            ),
            SigningKey(
                key_id="police-93-2026-2",
                public_key=public_key_b64(POLICE_NEXT_KEY),
                valid_from=ROTATION - timedelta(days=7),
            ),
        )
    }
)
ROTATION_MS = to_ms(ROTATION)


def test_a_record_signed_with_the_next_key_verifies() -> None:
    headers = signed(POLICE_NEXT_KEY, "police-93-2026-2")
    assert verifier.verify_record(TOPIC, KEY, VALUE, headers, ROTATING, NOW) == "police-93-2026-2"


def test_the_current_key_verifies_until_its_valid_until() -> None:
    before = signed(timestamp_ms=ROTATION_MS - 1)
    assert verifier.verify_record(TOPIC, KEY, VALUE, before, ROTATING, NOW) == POLICE_KEY_ID
    at = signed(timestamp_ms=ROTATION_MS)
    assert reason_of(at, agency=ROTATING) is DeadLetterReason.BAD_SIGNATURE


def test_the_next_key_does_not_verify_before_its_valid_from() -> None:
    early = signed(POLICE_NEXT_KEY, "police-93-2026-2", timestamp_ms=NOW_MS - 20 * DAY_MS)
    wide = RecordVerifier(SignaturePolicy(past_window=None))
    assert reason_of(early, agency=ROTATING, record_verifier=wide) is (
        DeadLetterReason.BAD_SIGNATURE
    )


def test_a_key_removed_from_the_directory_stops_verifying_at_once() -> None:
    shared = RecordVerifier()
    assert shared.verify_record(TOPIC, KEY, VALUE, signed(), POLICE, NOW) == POLICE_KEY_ID
    rekeyed = POLICE.model_copy(
        update={
            "signing_keys": (
                SigningKey(key_id=POLICE_KEY_ID, public_key=public_key_b64(POLICE_NEXT_KEY)),
            )
        }
    )
    assert reason_of(signed(), agency=rekeyed, record_verifier=shared) is (
        DeadLetterReason.BAD_SIGNATURE
    )


# --- the hub's signature ------------------------------------------------------------------

HUB = HubSigner.from_pem(dev_key_path(CONFIG_DIR, "hub"))
INBOX = "nrm.inbox.prefecture-93"


def test_a_hub_signed_delivery_verifies_with_the_hub_public_key() -> None:
    headers = HUB.sign(INBOX, KEY, VALUE, timestamp_ms=NOW_MS)
    assert verify_from_hub(INBOX, KEY, VALUE, headers, HUB_PUBLIC_KEY, now=NOW) == HUB.key_id


def test_a_hub_signature_fails_with_another_key() -> None:
    headers = HUB.sign(INBOX, KEY, VALUE, timestamp_ms=NOW_MS)
    with pytest.raises(SignatureError) as caught:
        verify_from_hub(INBOX, KEY, VALUE, headers, public_key_b64(OTHER_KEY), now=NOW)
    assert caught.value.reason is DeadLetterReason.BAD_SIGNATURE


def test_an_agency_cannot_pose_as_the_hub() -> None:
    headers = signed(OTHER_KEY, HUB.key_id, topic=INBOX)
    with pytest.raises(SignatureError):
        verify_from_hub(INBOX, KEY, VALUE, headers, HUB_PUBLIC_KEY, now=NOW)


def test_a_hub_delivery_moved_to_another_inbox_fails() -> None:
    headers = HUB.sign(INBOX, KEY, VALUE, timestamp_ms=NOW_MS)
    with pytest.raises(SignatureError):
        verify_from_hub("nrm.inbox.prefecture-75", KEY, VALUE, headers, HUB_PUBLIC_KEY, now=NOW)


def test_recipients_accept_old_deliveries_and_any_of_the_hubs_keys() -> None:
    headers = HUB.sign(INBOX, KEY, VALUE, timestamp_ms=NOW_MS - 90 * DAY_MS)
    keys = [public_key_b64(OTHER_KEY), HUB_PUBLIC_KEY]
    assert verify_from_hub(INBOX, KEY, VALUE, headers, keys, now=NOW) == HUB.key_id


def test_recipients_refuse_hub_signatures_from_the_future() -> None:
    headers = HUB.sign(INBOX, KEY, VALUE, timestamp_ms=NOW_MS + DAY_MS)
    with pytest.raises(SignatureError) as caught:
        verify_from_hub(INBOX, KEY, VALUE, headers, HUB_PUBLIC_KEY, now=NOW)
    assert caught.value.reason is DeadLetterReason.STALE_SIGNATURE


# --- canonical bytes: the contract other languages implement ------------------------------


def test_canonical_bytes_layout() -> None:
    expected = (
        b"nrm-hub/v1\x00"
        + struct.pack(">Q", 1_772_445_600_000)
        + struct.pack(">i", 5)
        + b"topic"
        + struct.pack(">i", 3)
        + b"key"
        + struct.pack(">i", -1)
    )
    assert DOMAIN == b"nrm-hub/v1\x00"
    assert canonical_bytes("topic", b"key", None, 1_772_445_600_000) == expected
    # The vector docs/SIGNING.md gives to implementers in other languages.
    assert expected.hex() == (
        "6e726d2d6875622f7631000000019cadfd890000000005746f706963000000036b6579ffffffff"
    )


def test_parsed_headers_give_the_signed_timestamp() -> None:
    parsed = parse_signature_headers(signed())
    assert (parsed.key_id, parsed.timestamp_ms) == (POLICE_KEY_ID, NOW_MS)


# --- the demo keys ------------------------------------------------------------------------


def test_every_dev_key_matches_the_public_key_the_directory_declares() -> None:
    directory = Directory.load(CONFIG_DIR)
    pems = sorted(DEV_KEYS.glob("*.pem"))
    own = {"hub", "directory-authority", "operator-actions"}
    assert {p.stem for p in pems} == {a.id for a in directory} | own
    for pem in pems:
        public = public_key_b64(load_private_key(pem))
        if pem.stem == "hub":
            assert public == HUB_PUBLIC_KEY
            continue
        if pem.stem in ("directory-authority", "operator-actions"):
            assert public == (CONFIG_DIR / f"{pem.stem}-public-key.txt").read_text().strip()
            continue
        agency = directory.get(pem.stem)
        assert agency is not None, pem
        assert [k.public_key for k in agency.signing_keys] == [public], pem.stem
        signer = RecordSigner.for_agency(agency, load_private_key(pem))
        assert signer.key_id == f"{agency.id}-2026-1"


def test_a_signer_refuses_a_key_the_directory_does_not_list() -> None:
    with pytest.raises(ValueError, match="pas une clé de signature de police-93"):
        RecordSigner.for_agency(POLICE, OTHER_KEY)


# --- key files and the `hub keys` commands ------------------------------------------------


def test_private_keys_are_written_0600_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "police-93.pem"
    write_private_key(path, POLICE_KEY)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert public_key_b64(load_private_key(path)) == public_key_b64(POLICE_KEY)
    with pytest.raises(FileExistsError):
        write_private_key(path, OTHER_KEY)
    write_private_key(path, OTHER_KEY, overwrite=True)
    assert public_key_b64(load_private_key(path)) == public_key_b64(OTHER_KEY)


def test_a_non_ed25519_key_file_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    ec_pem = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(KeyFileError, match="pas une clé Ed25519"):
        private_key_from_pem(ec_pem)
    with pytest.raises(KeyFileError, match="illisible"):
        load_private_key(tmp_path / "missing.pem")
    with pytest.raises(KeyFileError):
        dev_key_path(CONFIG_DIR, "../hub")


@pytest.mark.parametrize(
    ("key", "file"),
    [
        ("hub", "hub-public-key.txt"),
        ("directory-authority", "directory-authority-public-key.txt"),
        ("operator-actions", "operator-actions-public-key.txt"),
    ],
)
def test_the_hubs_own_keys_are_never_offered_for_the_directory(
    tmp_path: Path, key: str, file: str
) -> None:
    """Listing the operator-action key (or the hub's) under an agency would let it sign as one."""
    result = CliRunner().invoke(keys_app, ["generate", key, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert file in result.output
    assert "directory.yaml" not in result.output
    assert "signing_keys" not in result.output


def test_keys_generate_then_show_public(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        keys_app, ["generate", "police-93", "--out", str(tmp_path), "--key-id", "police-93-2026-2"]
    )
    assert result.exit_code == 0, result.output
    pem = tmp_path / "police-93.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    public = public_key_b64(load_private_key(pem))
    assert f'- {{key_id: "police-93-2026-2", public_key: "{public}"}}' in result.output
    shown = runner.invoke(keys_app, ["show-public", str(pem)])
    assert shown.exit_code == 0
    assert shown.output.strip() == public
    again = runner.invoke(keys_app, ["generate", "police-93", "--out", str(tmp_path)])
    assert again.exit_code == 1
    assert runner.invoke(keys_app, ["generate", "../etc", "--out", str(tmp_path)]).exit_code == 2
    assert runner.invoke(keys_app, ["show-public", str(tmp_path / "nope.pem")]).exit_code == 2
