"""Plumbing every operation shares: commands, waits, HTTP probes, redaction, timestamps,
owner-only files, operator hooks."""
