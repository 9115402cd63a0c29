"""Run the audit indexer until SIGTERM: ``python -m agents.audit_index``."""

from agents.audit_index.indexer import main

main()
