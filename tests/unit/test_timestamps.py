from __future__ import annotations

from datetime import UTC, datetime

import pytest

from operations.core.timestamps import TimestampError, parse_cutover_timestamp


@pytest.mark.parametrize("text", ["2026-01-23T12:00:00Z", "2026-01-23 12:00:00+00:00",
                                  "2026-01-23T13:00:00.250+01:00"])
def test_zoned_iso_timestamps_parse(text):
    parsed = parse_cutover_timestamp(text)
    assert parsed.astimezone(UTC).replace(microsecond=0) == datetime(2026, 1, 23, 12, tzinfo=UTC)


@pytest.mark.parametrize(("text", "why"), [
    ("2026-01-23' OR '1'='1", "is not a timestamp"),
    ("2026-01-23T12:00:00", "has no zone"),
    ("yesterday", "is not a timestamp"),
])
def test_anything_else_names_the_accepted_form(text, why):
    with pytest.raises(TimestampError, match=f"{why}; use ISO 8601 with a zone"):
        parse_cutover_timestamp(text)
