"""The worker: one topic-I/O layer (agents/io) and the loops that apply hub/ decisions
(router, deadline tick, directory follower, audit index, re-drive), with their CLI commands."""
