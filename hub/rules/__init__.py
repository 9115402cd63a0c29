"""The hub's rules as data plus pure functions: routing, consent, projection, deadlines,
working days, lifecycle, the agency directory and re-drives. No I/O, Kafka, HTTP, terminal."""
