"""The coordination committee's monitoring: reading the topics, charts, the HTML report and
``hub monitoring report`` (docs/MONITORING.md). The figures themselves are
``hub.rules.monitoring``."""
