"""The operators' dashboard: overdue requests, holds, orphaned needs, dead letters, cases."""
