"""What the hub decides for one event of a case: ingest, case state, the case flow and its
routing, deadline, delivery, identification and answer flows, the refusal notice. Pure:
decisions are values."""
