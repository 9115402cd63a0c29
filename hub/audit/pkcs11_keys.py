"""Per-case audit keys on a PKCS#11 token: an HSM in production, SoftHSM2 in tests.

The cipher of the audit payloads is AES-256-GCM-SIV, a mechanism PKCS#11 does not define (no
token implements it, SoftHSM2 included), so the case key is used in process and the token
guards it by envelope encryption:

* a **key-encryption key** (KEK): an AES-256 secret key generated on the token, sensitive and
  non-extractable (its bytes never leave the HSM), provisioned once by the security officer
  (docs/DEPLOYMENT.md);
* one **token object per case key**: a private ``CKO_DATA`` object labelled with the key id,
  whose value is the case key sealed under the KEK by the token (``CKM_AES_GCM``, a random
  96-bit nonce from the token, the key id as associated data, so a sealed key pasted under
  another id does not open);
* ``get`` finds the object and has the token open it (``C_Decrypt``); ``destroy`` writes a
  tombstone object, then ``C_DestroyObject`` on every sealed copy of the case key: the only
  copy outside a process's memory is gone, and the KEK alone opens nothing.

A token object is durable when ``C_CreateObject`` returns, so ``flush`` has nothing to do.
Lookups go through the token each time; the routing worker keeps used keys in memory for a
bounded time (``agents.key_cache``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TypeVar
from uuid import UUID

import pkcs11
import structlog
from pkcs11 import Attribute, GCMParams, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import (
    DeviceRemoved,
    KeyHandleInvalid,
    ObjectHandleInvalid,
    PKCS11Error,
    SessionClosed,
    SessionHandleInvalid,
    UserAlreadyLoggedIn,
    UserNotLoggedIn,
)
from pkcs11.types import DecryptMixin, EncryptMixin

from hub.audit.keys import (
    KEY_BITS,
    KeyDestroyedError,
    KeyStoreUnavailable,
    case_of_key_id,
    new_key_id,
)

__all__ = ["KeyStoreUnavailable", "Pkcs11KeyStore"]

log = structlog.get_logger(__name__)

T = TypeVar("T")
R = TypeVar("R")
SEAL_NONCE_BITS = 96
_SESSION_LOST = (
    UserNotLoggedIn,
    SessionHandleInvalid,
    SessionClosed,
    DeviceRemoved,
    KeyHandleInvalid,  # a private object's handle dies with the login
    ObjectHandleInvalid,
)
_CASE_APP = "nrm.audit.key/"
_ERASED_APP = "nrm.audit.erased/"


class Pkcs11KeyStore:
    """Case keys sealed under a non-extractable token KEK, one token object each."""

    def __init__(self, module: str, token_label: str, pin: str, kek_label: str) -> None:
        self._lock = threading.Lock()  # one session: one operation at a time (dashboard threads)
        self._closed = False
        self._module, self._token_label, self._pin, self._kek_label = (
            module,
            token_label,
            pin,
            kek_label,
        )
        self._connect()

    def _connect(self) -> None:
        """Open a session (logging in, unless this process already is) and find the KEK."""
        module, token_label, kek_label = self._module, self._token_label, self._kek_label
        try:
            token = pkcs11.lib(module).get_token(token_label=token_label)
            try:
                self._session = token.open(rw=True, user_pin=self._pin)
            except UserAlreadyLoggedIn:  # another session of this process logged in
                self._session = token.open(rw=True)
        except (PKCS11Error, OSError, RuntimeError) as exc:
            raise KeyStoreUnavailable(
                f"cannot open PKCS#11 token {token_label!r} with {module}: "
                f"{type(exc).__name__} {exc}".strip()
            ) from None
        try:
            kek = self._session.get_key(
                object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=kek_label
            )
        except PKCS11Error as exc:
            self._session.close()
            raise KeyStoreUnavailable(
                f"no single AES key-encryption key labelled {kek_label!r} on token "
                f"{token_label!r} ({type(exc).__name__})"
            ) from None
        usable = isinstance(kek, EncryptMixin) and isinstance(kek, DecryptMixin)
        if not usable or kek[Attribute.EXTRACTABLE] or not kek[Attribute.SENSITIVE]:
            self._session.close()
            raise KeyStoreUnavailable(
                f"the key-encryption key {kek_label!r} must be sensitive and non-extractable"
            )
        self._seal: EncryptMixin = kek  # type: ignore[assignment]
        self._unseal: DecryptMixin = kek  # type: ignore[assignment]

    def _retrying(self, operation: Callable[[T], R], argument: T) -> R:
        """Run ``operation``; once more on a new session if the session was lost (an HSM
        reconnect, or another session of this process logging out)."""
        with self._lock:
            try:
                return operation(argument)
            except _SESSION_LOST as exc:
                log.warning("audit.hsm_session_lost", error=type(exc).__name__)
                self._connect()
                return operation(argument)

    def close(self) -> None:
        """Close the session (logging out if it logged in); a second call does nothing."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._session.close()

    def get_or_create(self, case_id: UUID) -> tuple[str, bytes]:
        """The case's ``(key_id, key)``, created on first use; ``KeyDestroyedError`` if erased."""
        return self._retrying(self._get_or_create, case_id)

    def get(self, key_id: str) -> bytes | None:
        """The key named ``key_id``, or ``None`` when it was destroyed or never existed."""
        return self._retrying(self._get, key_id)

    def destroy(self, case_id: UUID) -> bool:
        """Tombstone the case, then ``C_DestroyObject`` every sealed copy of its key.

        The tombstone comes first, so a crash in between can only leave an erased case with a
        sealed key still to destroy (re-running ``destroy`` finishes the job).
        """
        return self._retrying(self._destroy, case_id)

    def flush(self) -> None:
        """Nothing to do: a token object is durable once created."""

    # -- the token

    def _get_or_create(self, case_id: UUID) -> tuple[str, bytes]:
        if self._erased(case_id):
            raise KeyDestroyedError(case_id)
        for sealed in self._sealed_of(case_id):
            key_id = str(sealed[Attribute.LABEL])
            key = self._open(key_id, bytes(sealed[Attribute.VALUE]))
            if key is None:
                raise KeyStoreUnavailable(f"the sealed key {key_id} does not open on the token")
            return key_id, key
        key_id = new_key_id(case_id)
        key = self._session.generate_random(KEY_BITS)
        nonce = self._session.generate_random(SEAL_NONCE_BITS)
        sealed_key = self._seal.encrypt(
            key, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, key_id.encode())
        )
        self._session.create_object(
            {
                Attribute.CLASS: ObjectClass.DATA,
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.MODIFIABLE: False,
                Attribute.LABEL: key_id,
                Attribute.APPLICATION: _CASE_APP + str(case_id),
                Attribute.VALUE: nonce + _whole(sealed_key),
            }
        )
        log.info("audit.key_created", case_id=str(case_id), key_id=key_id, store="pkcs11")
        return key_id, key

    def _get(self, key_id: str) -> bytes | None:
        case_id = case_of_key_id(key_id)
        if case_id is None:
            return None
        for sealed in self._sealed_of(case_id, key_id):
            return self._open(key_id, bytes(sealed[Attribute.VALUE]))
        self._check_logged_in()  # a logged-out session finds no private object, silently
        return None

    def _check_logged_in(self) -> None:
        template = {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.LABEL: self._kek_label,
        }
        if not list(self._session.get_objects(template)):
            raise UserNotLoggedIn()

    def _destroy(self, case_id: UUID) -> bool:
        if not self._erased(case_id):
            self._session.create_object(
                {
                    Attribute.CLASS: ObjectClass.DATA,
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.LABEL: str(case_id),
                    Attribute.APPLICATION: _ERASED_APP + str(case_id),
                    Attribute.VALUE: b"",
                }
            )
        existed = False
        for sealed in self._sealed_of(case_id):
            sealed.destroy()
            existed = True
        log.info("audit.key_destroyed", case_id=str(case_id), existed=existed, store="pkcs11")
        return existed

    def _sealed_of(self, case_id: UUID, key_id: str | None = None) -> list[pkcs11.Object]:
        template: dict[Attribute, object] = {
            Attribute.CLASS: ObjectClass.DATA,
            Attribute.APPLICATION: _CASE_APP + str(case_id),
        }
        if key_id is not None:
            template[Attribute.LABEL] = key_id
        return list(self._session.get_objects(template))  # a search left open blocks the next

    def _erased(self, case_id: UUID) -> bool:
        template = {
            Attribute.CLASS: ObjectClass.DATA,
            Attribute.APPLICATION: _ERASED_APP + str(case_id),
        }
        return bool(list(self._session.get_objects(template)))

    def _open(self, key_id: str, sealed: bytes) -> bytes | None:
        """The case key sealed in ``sealed``; None if it does not open under the KEK for this
        key id (altered, or moved from another key's object)."""
        nonce, body = sealed[: SEAL_NONCE_BITS // 8], sealed[SEAL_NONCE_BITS // 8 :]
        try:
            opened = self._unseal.decrypt(
                body,
                mechanism=Mechanism.AES_GCM,
                mechanism_param=GCMParams(nonce, key_id.encode()),
            )
        except PKCS11Error as exc:
            log.error("audit.sealed_key_unreadable", key_id=key_id, error=type(exc).__name__)
            return None
        return _whole(opened)


def _whole(result: bytes | Iterator[bytes]) -> bytes:
    # One-shot encrypt/decrypt give bytes; only the streaming forms (never used here) iterate.
    return result if isinstance(result, bytes) else b"".join(result)
