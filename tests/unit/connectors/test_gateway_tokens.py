"""Gateway API tokens: stored hashed with a per-token salt, checked by token id, never kept in
clear; and the per-agency token bucket behind 429."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from connectors.credentials import hash_token_secret, parse_token_hash, token_secret_matches
from connectors.gateway.limits import TokenBuckets
from connectors.gateway.problems import STATUS, GatewayReason, ProblemError
from connectors.gateway.tokens import (
    TOKENS_FILE,
    TokenEntry,
    TokenError,
    TokensFile,
    TokenStore,
    entry_yaml,
    main,
    mint_token,
    split_token,
)
from hub.contracts.enums import DeadLetterReason
from hub.rules.directory import Directory
from hub.runtime.config_files import ConfigError
from hub.runtime.settings import PROJECT_ROOT

CONFIG = PROJECT_ROOT / "deploy" / "config"
FAST = 10_000  # iterations: the minimum accepted, to keep these tests quick


def test_a_minted_token_authenticates_its_agency_and_only_its_hash_is_stored() -> None:
    token, entry = mint_token("police-93", iterations=FAST)
    prefix, token_id, secret = token.split(".")
    assert (prefix, token_id) == ("nrm", entry.token_id)
    assert token_id.startswith("police-93-")
    assert len(secret) >= 43  # 32 random bytes, base64url
    assert secret not in entry.hash
    assert token not in entry_yaml(entry)
    assert TokenStore([entry]).authenticate(token) == "police-93"


def test_each_token_has_its_own_salt() -> None:
    first, second = (
        hash_token_secret("same", iterations=FAST),
        hash_token_secret("same", iterations=FAST),
    )
    assert first != second
    assert token_secret_matches("same", first)
    assert token_secret_matches("same", second)
    assert not token_secret_matches("other", first)


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "nrm",
        "nrm..",
        "Bearer nrm.police-93-0000abcd.xxxxxxxxxxxxxxxxxxxx",
        "nrm.police-93.xxxxxxxxxxxxxxxxxxxx",  # no token-id suffix
        "nrm.police-93-0000abcd.short",
        "xyz.police-93-0000abcd.xxxxxxxxxxxxxxxxxxxx",
        "nrm.police-93-0000abcd.xxxxxxxxxxxxxxxxxxxx.extra",
    ],
)
def test_malformed_tokens_authenticate_nobody(presented: str) -> None:
    with pytest.raises(TokenError):
        split_token(presented)


def test_a_wrong_secret_an_unknown_id_and_an_expired_token_authenticate_nobody() -> None:
    token, entry = mint_token("police-93", iterations=FAST)
    store = TokenStore([entry])
    _, token_id, secret = token.split(".")
    with pytest.raises(TokenError):
        store.authenticate(f"nrm.{token_id}.{secret[:-1]}A" if secret[-1] != "A" else "x")
    with pytest.raises(TokenError):
        store.authenticate(f"nrm.police-93-ffffffff.{secret}")
    other, _ = mint_token("association-93", iterations=FAST)
    with pytest.raises(TokenError):  # another agency's valid token names another entry
        store.authenticate(other)

    expiring = entry.model_copy(update={"expires_at": datetime.now(UTC) + timedelta(hours=1)})
    store = TokenStore([expiring])
    assert store.authenticate(token) == "police-93"  # now cached
    later = datetime.now(UTC) + timedelta(hours=2)
    with pytest.raises(TokenError):
        store.authenticate(token, now=later)  # the cache honours the expiry too


def test_the_verified_token_cache_keys_by_digest_not_by_token() -> None:
    token, entry = mint_token("police-93", iterations=FAST)
    store = TokenStore([entry])
    assert store.cached(token) is None
    store.remember(token, store.verify(token))
    assert store.cached(token) == "police-93"
    assert all(token.encode() != key for key in store._verified)


def test_a_malformed_stored_hash_fails_the_file() -> None:
    for bad in ("plain", "pbkdf2_sha256$100$c2FsdHNhbHQ$aGFzaA", "md5$1$a$b"):
        with pytest.raises(ValueError, match=r"forme|itérations|base64"):
            parse_token_hash(bad)
    with pytest.raises(ValueError, match="pbkdf2_sha256"):
        TokenEntry(token_id="police-93-0000abcd", agency="police-93", hash="plain")


def test_the_committed_demo_tokens_match_their_hashes_for_every_agency() -> None:
    store = TokenStore.load(CONFIG / TOKENS_FILE)
    pairs = [
        line.split()
        for line in (CONFIG / "dev-keys" / "gateway-tokens.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {agency for agency, _token in pairs} == {a.id for a in Directory.load(CONFIG)}
    assert store.agencies() == {agency for agency, _token in pairs}
    stored = (CONFIG / TOKENS_FILE).read_text()
    for agency, token in pairs:
        assert store.authenticate(token) == agency
        assert token.split(".")[2] not in stored  # only hashes in the config file


def test_the_mint_command_prints_a_token_and_an_entry_that_loads(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["prefecture-93"]) == 0
    lines = capsys.readouterr().out.splitlines()
    token = lines[1].strip()
    entry_text = "\n".join(lines[3:]) + "\n"
    path = tmp_path / TOKENS_FILE
    path.write_text("tokens:\n" + entry_text)
    assert TokenStore.load(path).authenticate(token) == "prefecture-93"
    assert TokensFile.model_validate(yaml.safe_load(path.read_text())).tokens[0].agency == (
        "prefecture-93"
    )
    assert main(["Not An Agency"]) == 2


def test_a_tokens_file_with_an_unknown_field_is_refused(tmp_path: Path) -> None:
    path = tmp_path / TOKENS_FILE
    path.write_text("tokens:\n  - {token_id: police-93-0000abcd, agency: police-93, secret: x}\n")
    with pytest.raises(ConfigError):
        TokenStore.load(path)


def test_the_token_bucket_allows_a_burst_then_the_sustained_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=2.0, burst=3, clock=lambda: now[0])
    assert [buckets.take("police-93") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("police-93") == pytest.approx(0.5)
    assert buckets.take("association-93") == 0.0  # its own bucket
    now[0] = 0.5
    assert buckets.take("police-93") == 0.0
    with pytest.raises(ProblemError) as refused:
        buckets.check("police-93")
    assert refused.value.reason is GatewayReason.RATE_LIMITED
    assert refused.value.status == 429
    assert refused.value.headers["Retry-After"] == "1"
    now[0] = 100.0  # refills up to the burst, never beyond
    assert [buckets.take("police-93") for _ in range(4)][-1] > 0


def test_every_gateway_reason_has_a_status_and_payload_reasons_are_dead_letter_reasons() -> None:
    assert set(GatewayReason) <= set(STATUS)
    assert STATUS[DeadLetterReason.OVERSIZE] == 413
    assert STATUS[DeadLetterReason.SCHEMA_VIOLATION] == 422
    assert STATUS[GatewayReason.BROKER_UNAVAILABLE] == 503
    assert all(
        status != 500
        for reason, status in STATUS.items()
        if reason is not (DeadLetterReason.PROCESSING_ERROR)
    )
