"""The export's SQL: names quoted as identifiers, the timestamp never in the text."""

from __future__ import annotations

from operations.rollback.export import copy_statement, count_query


def _text(composed) -> str:
    return composed.as_string(None)


def test_names_are_quoted_identifiers():
    text = _text(copy_statement('we"ird table', "created_at"))
    assert '"we""ird table"' in text
    assert text.startswith("COPY (SELECT * FROM ")
    assert text.endswith("TO STDOUT WITH (FORMAT csv, HEADER true)")


def test_the_timestamp_is_read_from_a_setting_not_written_in_sql():
    for composed in (count_query("alerts", "created_at"),
                     copy_statement("alerts", "created_at")):
        text = _text(composed)
        assert "current_setting('cutover.since')::timestamptz" in text
        assert "2026" not in text
        assert '"created_at" > (SELECT ' in text
