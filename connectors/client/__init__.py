"""The Python client an agency uses to publish to the hub and read its inbox."""

from connectors.client.agency_protocol import InboxMessage
from connectors.client.kafka_client import AgencyClient

__all__ = ["AgencyClient", "InboxMessage"]
