"""Export the rows created since the cutover: one CSV per table, in one snapshot.

Every table is read inside one REPEATABLE READ, READ ONLY transaction, so the files agree
with each other and with the count(*) taken in the same snapshot. Rows stream from COPY
straight to the file in fixed-size blocks: memory stays flat whatever the table size.
libpq hands COPY data out one row per call; the blocks are filled by draining every row
already received in one go, not with one psycopg wait per row (which costs about a
second of CPU per million rows, on the core the server needs to produce them).
The cutover timestamp reaches the server only as a bound parameter (set_config), never
as SQL text; table and column names go through psycopg.sql.Identifier.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import psycopg
from psycopg import pq, sql
from psycopg.abc import PQGen
from psycopg.errors import error_from_result
from psycopg.waiting import Wait

# Blocks of at least this size (plus one row) go to the file and the hash.
WRITE_BLOCK_BYTES = 1 << 20
_SINCE_SETTING = "cutover.since"


@dataclass(frozen=True)
class TableExport:
    table: str
    rows: int
    bytes: int
    sha256: str
    file: str

    def as_dict(self) -> dict[str, object]:
        return {"table": self.table, "rows": self.rows, "bytes": self.bytes,
                "sha256": self.sha256, "file": self.file}


class ExportError(Exception):
    """An export is incomplete or wrong; the message names the table, the evidence, the fix."""


def _predicate(column: str) -> sql.Composed:
    # The value lives in a transaction-local setting, bound as a parameter in
    # begin_snapshot. The sub-select makes it an InitPlan: cast once, not once per row.
    return sql.SQL("{} > (SELECT current_setting({})::timestamptz)").format(
        sql.Identifier(column), sql.Literal(_SINCE_SETTING)
    )


def count_query(table: str, column: str) -> sql.Composed:
    return sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
        sql.Identifier(table), _predicate(column)
    )


def select_query(table: str, column: str) -> sql.Composed:
    return sql.SQL("SELECT * FROM {} WHERE {}").format(sql.Identifier(table), _predicate(column))


def copy_statement(table: str, column: str) -> sql.Composed:
    return sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(
        select_query(table, column)
    )


def begin_snapshot(conn: psycopg.Connection[tuple[object, ...]], since: datetime) -> None:
    """Open the one REPEATABLE READ snapshot every count and export reads."""
    conn.autocommit = False
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", (_SINCE_SETTING, since.isoformat()))


class _HashingFile:
    """Writes blocks to a file and hashes them; counts the bytes."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.bytes = 0

    def write(self, block: bytearray) -> None:
        if block:
            self.handle.write(block)
            self.digest.update(block)
            self.bytes += len(block)
            block.clear()


def fill_block(pgconn: pq.abc.PGconn, block: bytearray, limit: int) -> PQGen[bool]:
    """Append COPY OUT rows to `block` until it holds `limit` bytes (True), or the COPY ends
    (False, then read its result with copy_result). Run it with Connection.wait."""
    get_copy_data = pgconn.get_copy_data
    while len(block) < limit:
        nbytes, data = get_copy_data(1)  # 1: never block
        if nbytes > 0:
            block += data
        elif nbytes == 0:  # nothing complete in libpq's buffer: wait for the socket
            while not (yield Wait.R):  # a falsy answer is the wait's timeout tick
                pass
            pgconn.consume_input()
        elif nbytes == -1:
            return False
        else:
            raise psycopg.OperationalError(
                f"receiving COPY data failed: {pgconn.get_error_message()}")
    return True


def copy_result(pgconn: pq.abc.PGconn, encoding: str) -> PQGen[int | None]:
    """After fill_block returned False: the rows in the server's "COPY n" tag, or the
    server's error (a statement timeout, a cancel) raised as the psycopg exception.
    Every result is read first, so the connection is idle again either way."""
    results: list[pq.abc.PGresult] = []
    while True:
        pgconn.consume_input()
        while pgconn.is_busy():
            while not (yield Wait.R):
                pass
            pgconn.consume_input()
        if (result := pgconn.get_result()) is None:
            break
        results.append(result)
    for result in results:
        if result.status != pq.ExecStatus.COMMAND_OK:
            raise error_from_result(result, encoding=encoding)
    return results[-1].command_tuples if results else None


def export_table(
    conn: psycopg.Connection[tuple[object, ...]], table: str, column: str, path: Path
) -> TableExport:
    """Count, then COPY the table's post-cutover rows to `path`; both in the open snapshot."""
    with conn.cursor() as cursor:
        cursor.execute(count_query(table, column))
        found = cursor.fetchone()
        expected = found[0] if found is not None else None
        # cursor.copy sends the statement and, if the loop raises, cancels and drains the
        # COPY; the loop itself reads below psycopg's Copy object, on the same libpq conn.
        with path.open("wb") as handle, cursor.copy(copy_statement(table, column)):
            out = _HashingFile(handle)
            block = bytearray()
            while conn.wait(fill_block(conn.pgconn, block, WRITE_BLOCK_BYTES)):
                out.write(block)
            out.write(block)
            rows = conn.wait(copy_result(conn.pgconn, conn.info.encoding))  # rows sent
            handle.flush()
            os.fsync(handle.fileno())
    if rows is None or rows != expected:
        raise ExportError(
            f"table {table!r}: exported {rows} rows but count(*) in the same snapshot is "
            f"{expected}: {path} (the file is incomplete; rerun the rollback)"
        )
    return TableExport(table, rows, out.bytes, out.digest.hexdigest(), str(path))


def export_tables(
    conn: psycopg.Connection[tuple[object, ...]],
    tables: Sequence[str],
    column: str,
    since: datetime,
    directory: Path,
    after_each: Callable[[TableExport], None] | None = None,
) -> list[TableExport]:
    """Export every table in one snapshot; the transaction only reads, and ends rolled back."""
    directory.mkdir(parents=True, exist_ok=True)
    begin_snapshot(conn, since)
    exported: list[TableExport] = []
    try:
        for table in tables:
            exported.append(export_table(conn, table, column, directory / f"{table}.csv"))
            if after_each is not None:
                after_each(exported[-1])
        return exported
    finally:
        conn.rollback()  # read only: nothing to commit, and the snapshot is released
