"""The deadline engine: the policy as data (``policy``), open deadlines (``open_deadline``),
the escalation ladder (``ladder``) and the decisions on answers (``answers``).

Every routed message that needs an answer gets an ``OpenDeadline`` (``open_deadline``). Given
a deadline, an event and the injected clock ``now``, the functions of these modules return decisions
(frozen values); the agents carry them out. Nothing here reads a clock, a topic or a file
except ``DeadlinePolicy.load``.

- ``advance(deadline, now)``: the ladder steps now due (``Reminder`` to the recipient, then
  ``Escalate`` to its supervisor, then to national coordination), each exactly once; after
  the last step the need is raised as an ``OrphanedNeed`` (and the deadline stays open, so
  a late answer still closes it).
- ``on_ack(deadline, ack, now, policy)``: ACCEPTED / COMPLETED → ``Closed``;
  NEEDS_INFORMATION → ``Extended`` (at most ``max_information_extensions`` times, else
  ``NotExtended``); DECLINED → ``Reroute``; an answer from anyone but the recipient →
  ``Rejected(WRONG_RESPONDER)``.
- ``resolve_reroute(reroute, candidates, now, policy)``: a fresh deadline for the next
  eligible agency, or an ``OrphanedNeed`` when none is left.

Rule precedence: among the rules of the deadline's message type and recipient role, those
whose urgency and minor match (a field set to ``any`` matches everything) compete, and the
most specific wins (the one that sets more of urgency and minor). Two equally specific rules
that can match the same request make the policy invalid: it must state the combined case.
Every (message type, role) group must cover every urgency and minor value. See
docs/DEADLINES.md.
"""
