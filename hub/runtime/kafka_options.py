"""Connection options for Kafka clients, derived from the one settings object."""

from __future__ import annotations

import ssl
from typing import Any

from hub.runtime.settings import HubSettings, SecurityProtocol


def client_options(settings: HubSettings) -> dict[str, Any]:
    """Keyword arguments shared by every aiokafka client the hub creates."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol.value,
    }
    if settings.security_protocol in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL):
        options["ssl_context"] = ssl.create_default_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
        )
    if settings.security_protocol in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = (
            settings.sasl_password.get_secret_value() if settings.sasl_password else None
        )
    return options


def consumer_group_options(settings: HubSettings) -> dict[str, Any]:
    """Group timings that keep joins fast on the embedded broker (it holds each join for
    half the session timeout) and are sane on Apache Kafka."""
    return {
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms,
        # The embedded broker holds an empty fetch for the whole wait: 500 ms by default
        # put ~250 ms on every hop (measured by the soak, docs/RELIABILITY.md defect 7).
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
    }
