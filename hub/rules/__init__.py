"""The hub's rules as data plus pure functions: routing, consent, projection, deadlines,
working days, lifecycle, the agency directory, re-drives and the budget of refusal notices.
No I/O, Kafka, HTTP, terminal."""
