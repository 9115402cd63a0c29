"""The HTTP gateway: agencies publish, read their inbox and acknowledge over HTTP.

``create_gateway_app`` (``app.py``) builds it; docs/GATEWAY.md describes the API.
"""
