"""Cutover timestamps: ISO 8601 with a zone, parsed strictly, never pasted into SQL."""

from __future__ import annotations

from datetime import datetime

ACCEPTED_FORM = "ISO 8601 with a zone, e.g. 2026-01-23T12:00:00+00:00 or 2026-01-23T12:00:00Z"


class TimestampError(ValueError):
    pass


def parse_cutover_timestamp(text: str) -> datetime:
    """Parse `text` or raise TimestampError that shows the accepted form."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TimestampError(f"{text!r} is not a timestamp; use {ACCEPTED_FORM}") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise TimestampError(f"{text!r} has no zone; use {ACCEPTED_FORM}")
    return value
