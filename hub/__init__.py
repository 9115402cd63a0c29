"""NRM hub: the core library, in wings (contracts, rules, flow, audit, trust, runtime, cli).
It imports neither the worker (agents/) nor the edges (connectors/): docs/ARCHITECTURE.md."""
