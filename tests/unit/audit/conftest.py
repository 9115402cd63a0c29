"""The PKCS#11 key store's token for these tests: SoftHSM2, initialised per test process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from softhsm import SoftHsm, process_token

from hub.audit.pkcs11_keys import Pkcs11KeyStore


@pytest.fixture(scope="session")
def process_softhsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    """The test process's SoftHSM2 token, with the hub's key-encryption key."""
    return process_token(tmp_path_factory)


@pytest.fixture
def softhsm(process_softhsm: SoftHsm) -> SoftHsm:
    """The token, with no session of this process open: a login is per process, so a store
    another test left open (a worker's, a command's) would have logged these tests in already,
    and a wrong PIN would then pass unnoticed. C_Finalize closes every session of the
    process; the library is initialised again at once."""
    import pkcs11

    pkcs11.lib(str(process_softhsm.module)).reinitialize()
    return process_softhsm


@pytest.fixture
def pkcs11_store(softhsm: SoftHsm) -> Iterator[Callable[[], Pkcs11KeyStore]]:
    """Opens stores on the token and closes them after the test."""
    opened: list[Pkcs11KeyStore] = []

    def open_store() -> Pkcs11KeyStore:
        opened.append(softhsm.store())
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()
