"""The database a rollback exports from: reachable, and every table exportable."""

from __future__ import annotations

import pytest

from fixtures.target import TARGET_KEY

pytestmark = pytest.mark.rollback


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "table" in metafunc.fixturenames:
        tables = list(metafunc.config.stash[TARGET_KEY].rollback.tables)
        metafunc.parametrize("table", tables, ids=tables)


def test_database_reachable(db_engine, evidence):
    """The database answers with the configured credentials."""
    server = db_engine.server()
    evidence.add_text("database", f"{db_engine.describe()}: "
                                  f"user {server.user}, database {server.database}\n"
                                  f"{server.version}")


def test_table_exportable(table, target, db_engine, evidence):
    """The table exists and has the timestamp column the export filters on."""
    columns = db_engine.table_columns(table)
    column = target.rollback.timestamp_column
    where = f"{db_engine.describe()} table {table!r}"
    if not columns:
        pytest.fail(f"{where} not found (fix [rollback] tables in {target.source})",
                    pytrace=False)
    evidence.add_text("columns", "\n".join(f"{n} {t}" for n, t in columns.items()))
    if column not in columns:
        pytest.fail(f"{where} has no column {column!r}; columns: {', '.join(columns)} "
                    f"(fix [rollback] timestamp_column in {target.source})", pytrace=False)
    if not db_engine.is_timestamp(columns[column]):
        pytest.fail(f"{where} column {column!r} is {columns[column]}, not a timestamp "
                    f"(fix [rollback] timestamp_column in {target.source})", pytrace=False)
