"""Export the rows created since the cutover: one CSV per table, in one snapshot.

Every table is read inside one REPEATABLE READ, READ ONLY transaction, so the files agree
with each other and with the count(*) taken in the same snapshot. The counts run on a second
connection that imports that snapshot (SET TRANSACTION SNAPSHOT), beside the COPY rather
than before it: the check is as strict and the export no longer waits a table scan per
table. Rows stream from COPY straight to the file in fixed-size blocks: memory stays flat
whatever the table size.
libpq hands COPY data out one row per call; the blocks are filled by draining every row
already received in one go, not with one psycopg wait per row (which costs about a
second of CPU per million rows, on the core the server needs to produce them).
The cutover timestamp reaches the server only as a bound parameter (set_config), never
as SQL text; table and column names go through psycopg.sql.Identifier.
"""

from __future__ import annotations

import hashlib
import os
import socket
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import psycopg
from psycopg import pq, sql
from psycopg.abc import PQGen
from psycopg.errors import error_from_result
from psycopg.waiting import Wait

from operations.core.files import private_binary, private_dir
from operations.db.postgres import last_line

# Blocks of at least this size (plus one row) go to the file and the hash. Small enough to
# stay in the CPU cache and below malloc's mmap threshold: 1 MiB blocks cost the reader
# ~10% more CPU (page faults on every new block, a cold buffer).
WRITE_BLOCK_BYTES = 64 << 10
# While streaming, the reader sleeps until this much has arrived (see read_ahead).
READ_AHEAD_BYTES = 64 << 10
_GROW_LIBPQ_BUFFER_BYTES = 256 << 10
_TAIL_WAIT_S = 0.005
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


Connection = psycopg.Connection[tuple[object, ...]]


def begin_snapshot(conn: Connection, since: datetime, snapshot: str | None = None) -> None:
    """Open a REPEATABLE READ, READ ONLY transaction for the export: a new snapshot, or
    the exported `snapshot` of another transaction (then both see exactly the same rows)."""
    conn.autocommit = False
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    with conn.cursor() as cursor:
        if snapshot is not None:  # must be the transaction's first statement
            cursor.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        cursor.execute("SELECT set_config(%s, %s, true)", (_SINCE_SETTING, since.isoformat()))


def export_snapshot(conn: Connection) -> str:
    """The id another connection passes to SET TRANSACTION SNAPSHOT; valid while this
    transaction stays open."""
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_export_snapshot()")
        found = cursor.fetchone()
    assert found is not None
    return str(found[0])


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
            # Readable, or the wait's interval passed: a stream's tail can be shorter than
            # READ_AHEAD_BYTES and never wake the poll, so read what there is either way.
            yield Wait.R
            pgconn.consume_input()
        elif nbytes == -1:
            return False
        else:
            raise psycopg.OperationalError(
                f"receiving COPY data failed: {pgconn.get_error_message()}")
    return True


# Fewer, larger reads while a COPY streams. libpq reads at most its input buffer's free
# space per call (16 kB until a larger message grows it, for the connection's life) and
# poll() wakes at the first byte: about 5,000 wake-ups per million rows, a fifth of the
# reader's CPU. One 256 kB row grows the buffer (grow_read_buffer, before the COPY), and
# SO_RCVLOWAT makes poll() wait until READ_AHEAD_BYTES are there (read_ahead, around the
# reading loop only: psycopg's own waits, such as cancelling a COPY, must never meet it).


def grow_read_buffer(conn: Connection) -> None:
    with conn.cursor() as cursor:
        cursor.execute("SELECT repeat('x', %s)", (_GROW_LIBPQ_BUFFER_BYTES,))


@contextmanager
def read_ahead(conn: Connection) -> Iterator[float]:
    """Set SO_RCVLOWAT (64 kB: below the default receive buffer, so the kernel leaves
    buffer and window alone) and yield the interval to wait with; restored on exit."""
    with socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, READ_AHEAD_BYTES)
        except OSError:  # not every socket honours it; the reads are only smaller
            yield _TAIL_WAIT_S
            return
        try:
            yield _TAIL_WAIT_S
        finally:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)


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


def copy_table(conn: Connection, table: str, column: str, path: Path) -> TableExport:
    """COPY the table's post-cutover rows to `path` in the open snapshot; fsync'd, hashed.
    `rows` is what the server says it sent. Call grow_read_buffer on `conn` first."""
    # cursor.copy sends the statement and, if the loop raises, cancels and drains the
    # COPY; the loop itself reads below psycopg's Copy object, on the same libpq conn.
    with (conn.cursor() as cursor, private_binary(path) as handle,
          cursor.copy(copy_statement(table, column))):
        out = _HashingFile(handle)
        block = bytearray()
        with read_ahead(conn) as interval:
            while conn.wait(fill_block(conn.pgconn, block, WRITE_BLOCK_BYTES), interval):
                out.write(block)
        out.write(block)
        rows = conn.wait(copy_result(conn.pgconn, conn.info.encoding))
        handle.flush()
        os.fsync(handle.fileno())
    if rows is None:
        raise ExportError(f"table {table!r}: the server did not say how many rows it sent "
                          "(rerun the rollback)")
    return TableExport(table, rows, out.bytes, out.digest.hexdigest(), str(path))


class ExportWarning(UserWarning):
    """The export is complete and checked, but not the way it meant to be; says why."""


def count_rows(conn: Connection, table: str, column: str) -> int:
    with conn.cursor() as cursor:
        cursor.execute(count_query(table, column))
        found = cursor.fetchone()
    assert found is not None
    return int(str(found[0]))


class SnapshotCounter:
    """count(*) of each table's post-cutover rows, on a second connection that imported
    the export's snapshot, one table after another in a worker thread.

    The counts run with no parallel workers: beside the COPY they would only take the
    cores the COPY and the reader need. If the second connection cannot be opened (say
    max_connections is reached), each count is None and the caller counts on its own
    connection, in the same snapshot, after the COPY: slower, never weaker."""

    def __init__(self, connect: Callable[[], Connection], snapshot: str, since: datetime,
                 tables: Sequence[str], column: str) -> None:
        self._connect, self._snapshot, self._since = connect, snapshot, since
        self._conn: Connection | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="cutover-count")
        self._opened = self._pool.submit(self._open)
        self.counts: dict[str, Future[int | None]] = {
            table: self._pool.submit(self._count, table, column) for table in tables}

    def _open(self) -> None:
        self._conn = self._connect()
        begin_snapshot(self._conn, self._since, self._snapshot)
        self._conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")

    @property
    def open_error(self) -> str:
        """Why the second connection could not be opened ("" if it was); waits for it."""
        error = self._opened.exception()
        return last_line(error) if error is not None else ""

    def _count(self, table: str, column: str) -> int | None:
        if self._opened.exception() is not None:
            return None
        assert self._conn is not None
        return count_rows(self._conn, table, column)

    def close(self) -> None:
        """Stop counting (a running count is cancelled) and close the connection."""
        for future in self.counts.values():
            future.cancel()
        if self._conn is not None and not all(f.done() for f in self.counts.values()):
            self._conn.cancel_safe(timeout=5)
        self._pool.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()


def export_tables(
    connect: Callable[[], Connection],
    tables: Sequence[str],
    column: str,
    since: datetime,
    directory: Path,
    warn: Callable[[str], None] | None = None,
) -> list[TableExport]:
    """Export every table in one snapshot and check each file against count(*) in it.
    Both connections only read, end rolled back and are closed here. If anything fails,
    the files written so far are removed: the directory holds a checked export or none.
    `warn` hears what went otherwise than planned (default: an ExportWarning)."""
    warn = warn or _warn
    private_dir(directory)  # personal data: the owner's only (0700, files 0600)
    conn = connect()
    counter: SnapshotCounter | None = None
    exported: list[TableExport] = []
    written: list[Path] = []
    try:
        begin_snapshot(conn, since)
        counter = SnapshotCounter(connect, export_snapshot(conn), since, tables, column)
        grow_read_buffer(conn)  # once: libpq keeps the larger buffer
        for table in tables:
            written.append(directory / f"{table}.csv")
            result = copy_table(conn, table, column, written[-1])
            expected = counter.counts[table].result()
            if expected is None:
                expected = count_rows(conn, table, column)
                warn(f"table {table!r}: count(*) taken after the COPY on the export's own "
                     "connection (same snapshot), because a second connection could not be "
                     f"opened: {counter.open_error}")
            verify_count(result, expected)
            exported.append(result)
        return exported
    except BaseException:
        remove_files(written)
        raise
    finally:
        if counter is not None:
            counter.close()
        conn.close()  # read only: nothing to commit; closing ends the snapshot


def verify_count(exported: TableExport, expected: int) -> None:
    """The rows written must be count(*) in the export's snapshot (every engine's check)."""
    if exported.rows != expected:
        raise ExportError(
            f"table {exported.table!r}: exported {exported.rows} rows but count(*) in the same "
            f"snapshot is {expected} (the export's files were removed; rerun the rollback)")


def remove_files(written: Sequence[Path]) -> None:
    """A failed export leaves no file: the directory holds a checked export or none."""
    for path in written:
        path.unlink(missing_ok=True)


def _warn(message: str) -> None:
    warnings.warn(message, ExportWarning, stacklevel=3)
