"""The hub's rules as data plus pure functions: routing, consent, projection, deadlines,
working days, lifecycle and the agency directory. No I/O, no Kafka, no HTTP, no terminal."""
