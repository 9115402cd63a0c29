"""NRM hub: the core library (contracts, rules, codec, registry, embedded broker, CLI)."""
