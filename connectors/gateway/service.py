"""What the gateway's routes call: authentication, limits, event intake, signing, the broker.

One ``Gateway`` per app, built from the settings and the configuration files. It holds the
token store, the per-agency token buckets, the event intake, the broker link, the inbox reader
and the signers the gateway uses on behalf of each agency.
"""

from __future__ import annotations

import math

import anyio
import structlog
from starlette.requests import Request

from connectors.backoff import FailureBackoff
from connectors.gateway.broker_link import BrokerLink
from connectors.gateway.config import GatewaySettings
from connectors.gateway.inbox import InboxReader
from connectors.gateway.limits import TokenBuckets
from connectors.gateway.models import PublishReceipt
from connectors.gateway.problems import GatewayReason, ProblemError
from connectors.gateway.publishing import EventIntake, OutboxRecord
from connectors.gateway.tokens import TokenError, TokenStore, split_token
from hub.contracts.codec import Codec
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import outbox_topic
from hub.rules.directory import Agency, Directory
from hub.rules.indicators import IndicatorGrid
from hub.rules.routing import RoutingRules
from hub.runtime.settings import HubSettings
from hub.trust.agency_keys import KeyFileError, dev_key_path, load_private_key
from hub.trust.signing import RecordSigner

log = structlog.get_logger(__name__)


class Gateway:
    """What the routes call: tokens, limits, event intake, the broker, inbox reading, signers."""

    def __init__(
        self,
        settings: HubSettings,
        gateway: GatewaySettings,
        *,
        tokens: TokenStore,
        directory: Directory,
        registry: SchemaRegistry,
    ) -> None:
        self.settings = settings
        self.gateway = gateway
        self.tokens = tokens
        self.directory = directory
        self.codec = Codec(registry, max_record_bytes=settings.max_record_bytes)
        self.rules = RoutingRules.load(settings.config_dir)
        self.intake = EventIntake(self.codec, self.rules, IndicatorGrid.load(settings.config_dir))
        self.buckets = TokenBuckets(gateway.rate_per_second, gateway.rate_burst)
        self.auth_failures = FailureBackoff(
            free=gateway.auth_failures,
            base_s=gateway.auth_delay_seconds,
            max_s=max(gateway.auth_max_delay_seconds, gateway.auth_delay_seconds),
        )
        self.link = BrokerLink(settings, gateway)
        key_file = gateway.hub_public_key_file or settings.config_dir / "hub-public-key.txt"
        self.inbox = InboxReader(settings, self.link, self.codec, key_file.read_text().strip())
        self._signers: dict[str, RecordSigner] = {}

    async def authenticate(self, request: Request, token: str | None) -> Agency:
        """The agency a request speaks for: 401 without a valid token, 403 for a path naming
        another agency (or an agency no longer in the directory), then 429 past its rate."""
        if not token:
            raise _unauthenticated("an Authorization: Bearer <token> header is required")
        try:
            agency_id = self.tokens.cached(token)
            if agency_id is None:
                agency_id = await self._verify(token, request.client.host if request.client else "")
        except TokenError:
            raise _unauthenticated("the token is not valid") from None
        named = request.path_params.get("agency_id")
        if named != agency_id:
            raise ProblemError(
                GatewayReason.FORBIDDEN, f"{agency_id} may only use its own resources"
            )
        agency = self.directory.get(agency_id)
        if agency is None:
            raise ProblemError(GatewayReason.FORBIDDEN, f"{agency_id} is not in the directory")
        self.buckets.check(agency_id)
        return agency

    async def _verify(self, token: str, source: str) -> str:
        """The agency of a token not verified before, paying the key derivation off the loop.

        Wrong secrets for a stored token id are counted per (client address, token id): past
        ``auth_failures`` the pair is answered 429 with ``Retry-After`` for a growing, bounded
        delay, before any derivation, so a flood of guesses costs the gateway almost nothing
        and never slows other clients (nor the same agency from another address). Malformed
        tokens and unknown ids are refused without a derivation, so they are not counted.
        """
        token_id, _secret = split_token(token)
        key = f"{source}\0{token_id}" if self.tokens.known(token_id) else None
        if key is not None:
            wait = self.auth_failures.wait(key)
            if wait > 0:
                raise ProblemError(
                    GatewayReason.RATE_LIMITED,
                    f"too many wrong secrets for this token from this address; retry in "
                    f"{wait:.2f} s",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
        try:
            entry = await anyio.to_thread.run_sync(self.tokens.verify, token)
        except TokenError:
            if key is not None:
                self.auth_failures.failed(key)
            raise
        if key is not None:
            self.auth_failures.succeeded(key)
        self.tokens.remember(token, entry)
        return entry.agency

    def signer(self, agency: Agency) -> RecordSigner:
        """The key the gateway signs with for ``agency`` (403 if it holds none that counts)."""
        signer = self._signers.get(agency.id)
        if signer is None:
            folder = self.gateway.signing_keys_dir
            path = (
                folder / f"{agency.id}.pem"
                if folder
                else dev_key_path(self.settings.config_dir, agency.id)
            )
            try:
                signer = RecordSigner.for_agency(agency, load_private_key(path))
            except (KeyFileError, ValueError) as exc:
                log.error("gateway.no_signing_key", agency=agency.id, error=str(exc))
                raise ProblemError(
                    GatewayReason.FORBIDDEN,
                    f"the gateway holds no signing key of {agency.id} listed in the directory",
                ) from None
            self._signers[agency.id] = signer
        return signer

    async def publish(self, agency: Agency, record: OutboxRecord) -> PublishReceipt:
        """Sign ``record`` as ``agency`` and write it to its outbox, keyed by case id."""
        topic = outbox_topic(agency.id)
        key = str(record.case_id).encode()
        headers = self.signer(agency).sign(topic, key, record.value)
        written = await self.link.send(topic, record.value, key, headers)
        log.info(
            "gateway.published",
            agency=agency.id,
            subject=record.subject,
            case_id=str(record.case_id),
            event_id=str(record.event_id),
            partition=written.partition,
            offset=written.offset,
        )
        return PublishReceipt(
            event_id=record.event_id,
            case_id=record.case_id,
            subject=record.subject,
            schema_id=record.schema_id,
            partition=written.partition,
            offset=written.offset,
        )

    async def close(self) -> None:
        """Disconnect from the broker."""
        await self.inbox.close()
        await self.link.close()


def _unauthenticated(detail: str) -> ProblemError:
    return ProblemError(
        GatewayReason.UNAUTHENTICATED,
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="nrm-hub"'},
    )
