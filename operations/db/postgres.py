"""Connect to the target's database with the configured credentials."""

from __future__ import annotations

import psycopg

from operations.config import Database

CONNECT_TIMEOUT_S = 10
# A query stuck behind a lock fails with a message instead of hanging the rollback.
LOCK_TIMEOUT_MS = 30_000


class DatabaseError(Exception):
    """The database cannot be used; the message names it, the evidence and the fix."""


def describe(database: Database) -> str:
    return f"postgresql://{database.user}@{database.host}:{database.port}/{database.name}"


def connect(database: Database, password: str) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit=False connection, or DatabaseError naming the server and the fix."""
    try:
        return psycopg.connect(
            host=database.host,
            port=database.port,
            dbname=database.name,
            user=database.user,
            password=password.strip(),
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="cutover-rollback",
            options=f"-c lock_timeout={LOCK_TIMEOUT_MS}",
        )
    except psycopg.Error as exc:
        # libpq's message names host and port but never the password.
        reason = last_line(exc)
        raise DatabaseError(
            f"database {describe(database)} is not reachable: {reason} "
            "(is the database container running and [rollback.database] right in the "
            "target file?)"
        ) from None


def last_line(error: BaseException) -> str:
    """The line of a (libpq) error message that says what went wrong: its last."""
    text = str(error).strip()
    return text.splitlines()[-1] if text else type(error).__name__
