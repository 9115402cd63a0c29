"""The dashboard's routes, one module per page: login, overview (with its JSON), agencies,
case, dead-letter re-drive, probes and metrics. Each module has one ``router``."""
