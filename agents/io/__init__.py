"""The hub's topic I/O: the one place that builds Kafka clients, reads topics to their
high watermark, keeps case states, fetches audit records and writes what the hub decided."""
