"""The Python client an agency uses to publish to the hub and read its inbox."""

from connectors.client.kafka_client import AgencyClient, InboxMessage

__all__ = ["AgencyClient", "InboxMessage"]
