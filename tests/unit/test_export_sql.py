"""The export's SQL: names quoted as identifiers, the timestamp never in the text."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from psycopg import sql

from operations.rollback.export import begin_snapshot, copy_statement, count_query


def _text(composed) -> str:
    return composed.as_string(None)


def test_names_are_quoted_identifiers():
    text = _text(copy_statement('we"ird table', "created_at"))
    assert '"we""ird table"' in text
    assert text.startswith("COPY (SELECT * FROM ")
    assert text.endswith("TO STDOUT WITH (FORMAT csv, HEADER true)")


# A year and fraction found nowhere else, so a match can only be this value.
SINCE = datetime(2031, 7, 4, 5, 6, 7, 654321, tzinfo=UTC)


class _Recorder:
    """Stands in for a psycopg connection: keeps each statement and its parameters apart."""

    def __init__(self) -> None:
        self.autocommit = True
        self.isolation_level: object = None
        self.read_only = False
        self.calls: list[tuple[str, tuple[object, ...] | None]] = []

    @contextmanager
    def cursor(self) -> Iterator[_Recorder]:
        yield self

    def execute(self, query: str | sql.Composable,
                params: tuple[object, ...] | None = None) -> None:
        self.calls.append((query if isinstance(query, str) else _text(query), params))


def test_the_timestamp_reaches_the_server_only_as_a_bound_parameter():
    conn = _Recorder()
    begin_snapshot(conn, SINCE, snapshot="00000003-0000001B-1")  # type: ignore[arg-type]
    statements = [*(query for query, _ in conn.calls),
                  _text(count_query("alerts", "created_at")),
                  _text(copy_statement("alerts", "created_at"))]
    for text in statements:
        assert "2031" not in text and "654321" not in text, text
    bound = [params for _, params in conn.calls if params is not None]
    assert bound == [(bound[0][0], SINCE.isoformat())], conn.calls
    setting = bound[0][0]
    assert conn.calls[-1][0] == "SELECT set_config(%s, %s, true)"  # placeholders only
    for text in statements[-2:]:
        # The statements read exactly the setting the parameter was bound to.
        assert f"current_setting('{setting}')::timestamptz" in text
        assert '"created_at" > (SELECT ' in text
    assert (conn.autocommit, conn.read_only) == (False, True)
