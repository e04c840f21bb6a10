"""The database a rollback exports from: reachable, and every table exportable."""

from __future__ import annotations

import pytest

from fixtures.target import TARGET_KEY
from operations.db.postgres import describe
from operations.rollback.steps import table_columns

pytestmark = pytest.mark.rollback
_TIMESTAMP_TYPES = ("timestamp with time zone", "timestamp without time zone", "date")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "table" in metafunc.fixturenames:
        tables = list(metafunc.config.stash[TARGET_KEY].rollback.tables)
        metafunc.parametrize("table", tables, ids=tables)


def test_database_reachable(target, db_connect, evidence):
    """The database answers with the configured credentials."""
    conn = db_connect()
    with conn.cursor() as cursor:
        cursor.execute("SELECT current_user, current_database(), version()")
        row = cursor.fetchone()
    assert row is not None
    evidence.add_text("database", f"{describe(target.rollback.database)}: "
                                  f"user {row[0]}, database {row[1]}\n{row[2]}")


def test_table_exportable(table, target, db_connect, evidence):
    """The table exists and has the timestamp column the export filters on."""
    conn = db_connect()
    columns = table_columns(conn, table)
    column = target.rollback.timestamp_column
    where = f"{describe(target.rollback.database)} table {table!r}"
    if not columns:
        pytest.fail(f"{where} not found (fix [rollback] tables in {target.source})",
                    pytrace=False)
    evidence.add_text("columns", "\n".join(f"{n} {t}" for n, t in columns.items()))
    if column not in columns:
        pytest.fail(f"{where} has no column {column!r}; columns: {', '.join(columns)} "
                    f"(fix [rollback] timestamp_column in {target.source})", pytrace=False)
    if columns[column] not in _TIMESTAMP_TYPES:
        pytest.fail(f"{where} column {column!r} is {columns[column]}, not a timestamp "
                    f"(fix [rollback] timestamp_column in {target.source})", pytrace=False)
