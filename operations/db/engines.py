"""Which engine a target's database runs, and its db-protocol implementation.

`[rollback.database] engine` decides; without it, the `[deploy] database_service`'s image,
entrypoint and command in `docker compose config` (and, for a built service, its
Dockerfile's text) name it; with neither, "postgresql", what every target was before
there was a choice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from operations.config import Database, Engine
from operations.db.protocol import DatabaseEngine

DEFAULT_ENGINE: Engine = "postgresql"
# The first match wins: "mariadb" before "mysql" (MariaDB's tools keep mysql names too).
_PATTERNS: tuple[tuple[Engine, re.Pattern[str]], ...] = (
    ("mariadb", re.compile(r"\bmariadb", re.IGNORECASE)),
    ("mysql", re.compile(r"\bmysql(?:d|-server)?\b", re.IGNORECASE)),
    ("postgresql", re.compile(r"\bpostgres(?:ql)?\b|\bpg_ctl\b", re.IGNORECASE)),
)


def _words(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return ""


def engine_from_text(text: str) -> Engine | None:
    for engine, pattern in _PATTERNS:
        if pattern.search(text):
            return engine
    return None


def derive_engine(service: Mapping[str, Any], project_dir: Path | None = None) -> Engine | None:
    """The engine a compose service (its `docker compose config` entry) runs, if it says."""
    found = engine_from_text(" ".join(_words(service.get(key))
                                      for key in ("image", "entrypoint", "command")))
    build = service.get("build")
    if found is None and isinstance(build, Mapping) and build.get("context"):
        context = Path(str(build["context"]))
        if project_dir is not None and not context.is_absolute():
            context = project_dir / context
        dockerfile = context / str(build.get("dockerfile") or "Dockerfile")
        try:
            found = engine_from_text(dockerfile.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return None
    return found


def resolve_engine(database: Database | None,
                   compose_config: Callable[[], Mapping[str, Any]], service: str,
                   project_dir: Path | None = None) -> Engine:
    """The configured engine, else the derived one, else postgresql. `compose_config` is
    only called when the file does not say (and may raise: then the default holds)."""
    if database is not None and database.engine is not None:
        return database.engine
    if service:
        try:
            spec = (compose_config().get("services") or {}).get(service) or {}
        except Exception:  # no compose config: the compatible default holds
            return DEFAULT_ENGINE
        return derive_engine(spec, project_dir) or DEFAULT_ENGINE
    return DEFAULT_ENGINE


def open_engine(engine: Engine, database: Database,
                connect: Callable[[], Any]) -> DatabaseEngine:
    """The protocol's implementation for `engine`; connections come from `connect`."""
    if engine == "postgresql":
        from operations.db.postgres import PostgreSQL

        return PostgreSQL(database, connect)
    from operations.db.mariadb import MariaDB

    return MariaDB(database, connect, engine)


def connector(engine: Engine) -> Callable[[Database, str], Any]:
    """The function that opens one connection: (database, password) -> connection."""
    if engine == "postgresql":
        from operations.db.postgres import connect as connect_postgres

        return connect_postgres
    from operations.db.mariadb import connect as connect_mariadb

    return lambda database, password: connect_mariadb(database, password, engine)


def readiness_argv(engine: Engine) -> list[str]:
    """Run in the database's container: exits 0 once the server takes connections."""
    if engine == "postgresql":
        from operations.db.postgres import READINESS_ARGV

        return list(READINESS_ARGV)
    from operations.db.mariadb import readiness_argv as mariadb_readiness

    return mariadb_readiness(engine)


def version_argv(engine: Engine) -> list[str]:
    """Run in the database's container: prints the server's version."""
    if engine == "postgresql":
        from operations.db.postgres import VERSION_ARGV

        return list(VERSION_ARGV)
    from operations.db.mariadb import version_argv as mariadb_version

    return mariadb_version(engine)


def backup_name(engine: Engine, database: Database) -> str:
    """The backup's file name: pg_dump's custom format, or a SQL dump."""
    return f"{database.name}.{'dump' if engine == 'postgresql' else 'sql'}"


def restore_argv(engine: Engine, database: Database, over_tcp: bool) -> list[str]:
    """Restores the rollback's backup, which it reads on stdin. `over_tcp`: from the host
    (no database service to run it in), so it names the server's address."""
    if engine == "postgresql":
        from operations.db.postgres import DEFAULT_PORT

        argv = ["pg_restore", "--clean", "--if-exists", "-U", database.user, "-d",
                database.name]
        address = ["-h", database.host, "-p", str(database.port or DEFAULT_PORT)]
    else:
        from operations.db.mariadb import DEFAULT_PORT as MARIADB_PORT
        from operations.db.mariadb import TOOLS

        argv = [TOOLS[engine].client, "-u", database.user, database.name]
        address = ["-h", database.host, "-P", str(database.port or MARIADB_PORT)]
    return [argv[0], *address, *argv[1:]] if over_tcp else argv
