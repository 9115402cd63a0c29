"""The hub's edges: HTTP gateway, schema registry REST API, webhooks, clients, exporters."""
