"""The public reporting page: anyone who witnessed exploitation reports it, without an account
(docs/WITNESS_REPORTS.md)."""
