"""The contracts every part of the hub shares: the Avro events and enums, the one codec,
the schema registry, strict Avro checks, schema evolution and the topic names."""
