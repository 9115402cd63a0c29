"""A SoftHSM2 token of its own for a test process: a temporary SOFTHSM2_CONF, a fresh token,
and the hub's key-encryption key generated on it as production provisions one (AES-256,
sensitive, non-extractable). No system token is ever touched.

The PKCS#11 library reads SOFTHSM2_CONF once, when a process first loads it, so there is one
token per test process, whichever fixture asks first (``process_token``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.audit.pkcs11_keys import Pkcs11KeyStore

SOFTHSM_MODULES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
)
TOKEN_LABEL = "nrm-test"
USER_PIN = "246810"
SO_PIN = "13579111"
KEK_LABEL = "nrm-hub-kek"


@dataclass(frozen=True)
class SoftHsm:
    """The process's token: where it lives and how to open a key store on it."""

    module: Path
    token_dir: Path
    label: str = TOKEN_LABEL
    pin: str = USER_PIN
    kek_label: str = KEK_LABEL

    def store(self) -> Pkcs11KeyStore:
        """A new session on the token: what a restarted or second process would open."""
        return Pkcs11KeyStore(str(self.module), self.label, self.pin, self.kek_label)


_token: list[SoftHsm] = []


def process_token(factory: pytest.TempPathFactory) -> SoftHsm:
    """The process's initialised token with its KEK; fails (never skips) without softhsm2."""
    if _token:
        return _token[0]
    module = next((m for m in SOFTHSM_MODULES if m.exists()), None)
    util = shutil.which("softhsm2-util")
    if module is None or util is None:
        pytest.fail("SoftHSM2 is not installed: `make test` installs it (apt-get softhsm2)")
    root = factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)  # for the process: the library reads it once
    subprocess.run(
        [
            util,
            "--init-token",
            "--free",
            "--label",
            TOKEN_LABEL,
            "--pin",
            USER_PIN,
            "--so-pin",
            SO_PIN,
        ],
        check=True,
        capture_output=True,
    )
    _provision_kek(module)
    _token.append(SoftHsm(module, root / "tokens"))
    return _token[0]


def _provision_kek(module: Path) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType

    token = pkcs11.lib(str(module)).get_token(token_label=TOKEN_LABEL)
    with token.open(rw=True, user_pin=USER_PIN) as session:
        session.generate_key(
            KeyType.AES,
            256,
            label=KEK_LABEL,
            store=True,
            template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
        )
