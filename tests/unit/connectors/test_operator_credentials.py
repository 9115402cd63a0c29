"""Operator passwords (scrypt, stdlib), the operators file, login throttling and sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.credentials import hash_password, parse_password_hash, password_matches
from connectors.dashboard.operators import (
    LoginThrottle,
    OperatorEntry,
    OperatorStore,
)
from connectors.dashboard.sessions import SessionSigner, csrf_matches
from hub.runtime.config_files import ConfigError
from hub.runtime.settings import PROJECT_ROOT

CONFIG = PROJECT_ROOT / "deploy" / "config"


def demo_lines(name: str) -> dict[str, str]:
    lines = (CONFIG / "dev-keys" / name).read_text().splitlines()
    return dict(line.split() for line in lines if line.strip() and not line.startswith("#"))


def test_a_password_is_stored_as_a_salted_scrypt_hash_never_in_clear() -> None:
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("scrypt$16384$8$1$")
    assert "correct horse" not in stored
    assert password_matches("correct horse battery staple", stored)
    assert not password_matches("correct horse battery stapl", stored)
    assert hash_password("correct horse battery staple") != stored  # a fresh salt each time


@pytest.mark.parametrize(
    "stored",
    [
        "pbkdf2_sha256$100000$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",  # the gateway tokens' format
        "scrypt$1024$8$1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43,  # cost too low
        "scrypt$16384$8$1$AAAA$" + "A" * 43,  # salt too short
        "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAA",  # hash too short
        "scrypt$16384$8$1$not base64!$x",
        "plain text password",
    ],
)
def test_malformed_or_weak_hashes_are_refused(stored: str) -> None:
    with pytest.raises(ValueError, match=r"scrypt|sel|coût|base64"):
        parse_password_hash(stored)
    with pytest.raises(ValueError, match="password_hash"):
        OperatorEntry(id="someone", name="Someone", password_hash=stored, role="AUDITOR")


def test_the_demo_operators_log_in_with_their_documented_passwords() -> None:
    store = OperatorStore.load(CONFIG / "operators.yaml")
    passwords = demo_lines("operators.txt")
    assert set(passwords) == {o.id for o in store}  # every demo operator has its password
    entry = store.authenticate("operatrice.demo", passwords["operatrice.demo"])
    assert entry is not None
    assert entry.name.startswith("Opératrice")
    assert store.authenticate("operatrice.demo", passwords["operateur.demo"]) is None
    # Disabled: the right password is refused, and get() does not find it.
    assert store.authenticate("ancien.operateur", passwords["ancien.operateur"]) is None
    assert store.get("ancien.operateur") is None
    assert store.authenticate("nobody", "whatever") is None


def test_an_agency_gateway_token_is_not_an_operator_credential() -> None:
    store = OperatorStore.load(CONFIG / "operators.yaml")
    tokens = demo_lines("gateway-tokens.txt")
    for agency in ("police-93", "prefecture-93", "miprof"):  # scrypt costs ~35 ms a check
        token = tokens[agency]
        token_id = token.split(".")[1]
        for operator in (agency, token_id, "operatrice.demo"):
            assert store.authenticate(operator, token) is None


def test_an_operators_file_naming_an_operator_twice_is_refused(tmp_path: Path) -> None:
    stored = hash_password("a long enough password")
    path = tmp_path / "operators.yaml"
    path.write_text(
        "operators:\n"
        f"  - {{id: twice, name: A, password_hash: '{stored}', role: AUDITOR}}\n"
        f"  - {{id: twice, name: B, password_hash: '{stored}', role: AUDITOR}}\n"
    )
    with pytest.raises(ConfigError, match="en double"):
        OperatorStore.load(path)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_wrong_passwords_from_one_address_never_stop_the_operator_from_another() -> None:
    clock = Clock()
    throttle = LoginThrottle(free=3, base_s=1.0, max_s=8.0, clock=clock)
    for _ in range(20):  # an attacker who waits out every delay, for hours
        clock.now += throttle.wait("operatrice.demo", "203.0.113.9")
        throttle.failed("operatrice.demo", "203.0.113.9")
    assert throttle.wait("operatrice.demo", "203.0.113.9") > 0
    assert throttle.wait("operatrice.demo", "198.51.100.7") == 0.0  # the operator's own desk
    assert throttle.wait("operateur.demo", "198.51.100.7") == 0.0


def test_the_delay_grows_per_failure_and_is_bounded() -> None:
    clock = Clock()
    throttle = LoginThrottle(free=3, base_s=1.0, max_s=8.0, clock=clock)
    delays = []
    for _ in range(8):
        delays.append(throttle.failed("operatrice.demo", "203.0.113.9"))
        clock.now += delays[-1]
    assert delays == [0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    clock.now += 1.0
    throttle.succeeded("operatrice.demo", "203.0.113.9")
    assert throttle.wait("operatrice.demo", "203.0.113.9") == 0.0


def test_one_address_spraying_many_ids_is_slowed_too() -> None:
    throttle = LoginThrottle(free=2, base_s=1.0, max_s=8.0, clock=Clock())
    for n in range(7):  # 4 * free attempts, each on a new id
        throttle.failed(f"guess-{n}", "203.0.113.9")
    assert throttle.wait("another-guess", "203.0.113.9") == 0.0
    throttle.failed("guess-8", "203.0.113.9")
    assert throttle.wait("another-guess", "203.0.113.9") > 0
    assert throttle.wait("another-guess", "198.51.100.7") == 0.0


def test_throttle_memory_is_bounded() -> None:
    throttle = LoginThrottle(free=3, max_keys=100)
    for n in range(1000):
        throttle.failed("operatrice.demo", f"10.0.{n // 256}.{n % 256}")
    assert len(throttle.pairs) == 100
    assert len(throttle.sources) == 100


def test_an_unknown_operator_id_is_recorded_only_as_a_keyed_hash() -> None:
    known = OperatorEntry(
        id="operatrice.demo", name="A", password_hash=hash_password("x" * 12), role="AUDITOR"
    )
    store = OperatorStore((known,))
    assert store.recordable("operatrice.demo") == "operatrice.demo"  # a known id may appear
    typed = "Tr0ub4dor&3-mot-de-passe"
    pseudonym = store.recordable(typed)
    assert pseudonym.startswith("unknown-")
    assert typed not in pseudonym
    assert store.recordable(typed) == pseudonym  # the same text, the same pseudonym
    assert OperatorStore(()).recordable(typed) != pseudonym  # a key of its own per process
    assert store.recordable("another text") != pseudonym


def test_a_session_cookie_is_signed_and_expires() -> None:
    signer = SessionSigner(b"s" * 32, lifetime_s=60)
    session, cookie = signer.issue("operatrice.demo", now=1000.0)
    assert signer.read(cookie, now=1001.0) == session
    assert signer.read(cookie, now=1060.0) is None  # expired
    assert SessionSigner(b"t" * 32).read(cookie, now=1001.0) is None  # another secret
    payload, mac = cookie.split(".")
    assert signer.read(payload + "x." + mac, now=1001.0) is None  # tampered
    assert signer.read("nrm.police-93-7c679d2e.secret", now=1001.0) is None
    assert signer.read(None) is None


def test_a_revoked_session_stays_revoked_and_csrf_must_match() -> None:
    signer = SessionSigner(b"s" * 32, lifetime_s=60)
    session, cookie = signer.issue("operateur.demo", now=1000.0)
    assert csrf_matches(session, session.csrf_token)
    assert not csrf_matches(session, "forged")
    assert not csrf_matches(session, None)
    signer.revoke(session, now=1001.0)
    assert signer.read(cookie, now=1002.0) is None


def test_a_short_session_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SessionSigner(b"short")
