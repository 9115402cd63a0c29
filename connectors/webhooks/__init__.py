"""Webhook delivery of agency inboxes (``deliverer``) and the receivers' check (``signature``).

Importing the package only loads the signature module (standard library only), so a receiver
can ``from connectors.webhooks import verify_webhook`` without Kafka.
"""

from connectors.webhooks.signature import WebhookSignatureError, sign_webhook, verify_webhook

__all__ = ["WebhookSignatureError", "sign_webhook", "verify_webhook"]
