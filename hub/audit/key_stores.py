"""The key store a hub process uses, chosen by its settings (``HUB_KEY_STORE``).

``file`` (the default: development, the demo, one node) keeps the keys in a journal under the
data directory; ``pkcs11`` (production) seals them under a key-encryption key that never
leaves the HSM (``hub.audit.pkcs11_keys``). Every process of a deployment must use the same
store: a key made by one is read by the others (replay, erasure, the next owner of a
partition).
"""

from __future__ import annotations

import threading

from hub.audit.keys import KEYS_DIRECTORY, FileKeyStore, KeyStore, KeyStoreUnavailable
from hub.runtime.settings import HubSettings, KeyStoreKind

_opened: dict[tuple[object, ...], KeyStore] = {}
_opening = threading.Lock()


def key_store_for(settings: HubSettings, *, batched: bool = False) -> KeyStore:
    """The configured key store, one per process and configuration (a PKCS#11 session is
    opened once; the journal is read once). ``batched``: new keys become durable only at
    ``flush()`` — for the routing worker, which flushes once per batch before it sends the
    batch's records. Raises ``KeyStoreUnavailable`` when the PKCS#11 token cannot be used."""
    if settings.key_store is KeyStoreKind.PKCS11:
        identity: tuple[object, ...] = (
            KeyStoreKind.PKCS11,
            str(settings.pkcs11_module),
            settings.pkcs11_token_label,
            settings.pkcs11_kek_label,
        )
    else:
        identity = (KeyStoreKind.FILE, str(settings.data_dir), batched)
    with _opening:
        store = _opened.get(identity)
        if store is None:
            store = _open(settings, batched=batched)
            _opened[identity] = store
        return store


def _open(settings: HubSettings, *, batched: bool) -> KeyStore:
    if settings.key_store is KeyStoreKind.PKCS11:
        from hub.audit.pkcs11_keys import Pkcs11KeyStore

        if settings.pkcs11_pin is None:
            raise KeyStoreUnavailable("HUB_PKCS11_PIN is not set: the token cannot be opened")
        return Pkcs11KeyStore(
            str(settings.pkcs11_module),
            settings.pkcs11_token_label,
            settings.pkcs11_pin.get_secret_value(),
            settings.pkcs11_kek_label,
        )
    return FileKeyStore(settings.data_dir / KEYS_DIRECTORY, defer_durability=batched)
