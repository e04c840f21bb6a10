"""Ordered SQL migrations, each applied exactly once.

Files `NNNN_name.sql` in the migrations directory run in filename order. Each runs in
its own transaction together with its row in `schema_migrations`, so a failing file
leaves nothing behind while the files before it stay applied.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

import psycopg

from freshtrack import db
from freshtrack.config import Settings

EXIT_OK = 0
EXIT_MIGRATION_FAILED = 1
EXIT_UNREACHABLE = 2

# Any constant works; it only has to be the same for every `freshtrack migrate`.
_ADVISORY_LOCK_ID = 0x46726573  # "Fres"

_CREATE_TRACKING_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    filename   text PRIMARY KEY,
    applied_at timestamptz DEFAULT now()
)
"""


def pending(conn: psycopg.Connection[Any], migrations_dir: Path) -> list[Path]:
    applied = {row[0] for row in conn.execute("SELECT filename FROM schema_migrations")}
    return [path for path in sorted(migrations_dir.glob("*.sql")) if path.name not in applied]


def _apply(conn: psycopg.Connection[Any], path: Path) -> None:
    with conn.transaction():
        # No parameters: psycopg sends the file as one simple query, so a file
        # may hold several statements.
        conn.execute(path.read_text(encoding="utf-8"))
        conn.execute("INSERT INTO schema_migrations (filename) VALUES (%s)", (path.name,))


def run(
    settings: Settings, password: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    try:
        conn = db.connect(settings, password, autocommit=True)
    except psycopg.OperationalError as error:
        print(
            f"migrate: database unreachable at {settings.database_address()}: {error}".rstrip(),
            file=err,
        )
        return EXIT_UNREACHABLE
    with conn:
        # Two deploys migrating at once take turns instead of racing.
        conn.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK_ID,))
        conn.execute(_CREATE_TRACKING_TABLE)
        todo = pending(conn, settings.migrations_dir)
        for path in todo:
            try:
                _apply(conn, path)
            except psycopg.Error as error:
                print(f"migration failed: {path.name}: {error}".rstrip(), file=err)
                return EXIT_MIGRATION_FAILED
            print(f"applied {path.name}", file=out, flush=True)
        print(f"{len(todo)} migration(s) applied" if todo else "nothing to apply", file=out)
    return EXIT_OK
