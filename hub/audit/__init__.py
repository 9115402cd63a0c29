"""The tamper-evident audit trail: the per-case hash chain, its verification (chain and the
hub's signature), the per-case encryption keys (crypto-shredding) and what an auditor reads."""
