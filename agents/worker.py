"""Assemble and run a hub worker process: directory follower + routing worker.

``run_worker`` is what ``hub worker`` and the demo run; tests run it in-process against the
embedded broker. Everything is built from the one settings object and the policy files.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog

from agents.directory_follower import DirectoryFollower
from agents.key_cache import CachedKeyStore
from agents.router import Router
from agents.router_parts import Policies, RouterParts
from hub.audit.key_stores import key_store_for
from hub.audit.keys import KeyStore
from hub.contracts.codec import Codec
from hub.contracts.registry import SchemaRegistry
from hub.rules.directory import Directory
from hub.runtime.clock import clock_from, wall_clock
from hub.runtime.settings import HubSettings
from hub.trust.hub_keys import hub_public_keys
from hub.trust.operator_actions import operator_action_keys
from hub.trust.signing import HubSigner
from hub.trust.verification import RecordVerifier, SignaturePolicy

log = structlog.get_logger(__name__)


def build_router(
    settings: HubSettings,
    follower: DirectoryFollower,
    codec: Codec,
    *,
    key_store: KeyStore | None = None,
    clock: Callable[[], datetime] = wall_clock,
    group_id: str = "nrm-router",
) -> Router:
    """A routing worker configured from ``settings`` and ``deploy/config``."""
    policy = SignaturePolicy(
        settings.verify_signatures,
        settings.signature_past_window,
        settings.signature_future_window,
    )
    parts = RouterParts(
        codec=codec,
        directory=follower,
        policies=Policies.load(settings.config_dir, codec.registry),
        key_store=CachedKeyStore(key_store or key_store_for(settings, batched=True)),
        verifier=RecordVerifier(policy) if settings.verify_signatures else None,
        signer=HubSigner.from_pem(settings.signing_key_path, settings.signing_key_id),
        hub_keys=hub_public_keys(settings.config_dir, settings.previous_hub_public_keys),
        operator_keys=operator_action_keys(settings.config_dir),
    )
    return Router(settings, parts, clock=clock, group_id=group_id)


async def run_worker(
    settings: HubSettings,
    stop: asyncio.Event,
    *,
    key_store: KeyStore | None = None,
    clock: Callable[[], datetime] | None = None,
    on_ready: Callable[[Router], None] | None = None,
) -> Router:
    """Run one worker until ``stop`` is set; return it (its stats) when stopped.

    The key store is opened first: a worker that cannot reach its keys (``KeyStoreUnavailable``)
    stops before it touches the broker."""
    key_store = key_store or key_store_for(settings, batched=True)
    codec = Codec(
        SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
    )
    follower = DirectoryFollower(settings, codec, Directory.load(settings.config_dir))
    await follower.start()
    clock = clock or clock_from(settings.clock_start, settings.clock_anchor, settings.clock_speed)
    router = build_router(settings, follower, codec, key_store=key_store, clock=clock)
    await router.start()
    health = None
    if settings.health_port is not None:
        from agents.health import serve_health

        health = await serve_health(settings, router)
    if on_ready is not None:
        on_ready(router)
    log.info("worker.started", bootstrap=settings.bootstrap_servers)
    try:
        await router.run(stop)
    finally:
        if health is not None:
            await health.stop()
        await router.stop()
        await follower.stop()
        log.info(
            "worker.stopped", records=router.stats.records, dead_letters=router.stats.dead_letters
        )
    return router
