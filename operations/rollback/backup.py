"""Back up the whole database with pg_dump (custom format) inside the database container.

The dump streams from `docker compose exec -T` straight into a file; `pg_restore --list`
then reads the file back through the same container, so the archive is proven readable
by the server's own tools before the rollback goes on.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from operations.config import Database
from operations.core.commands import CommandLog, CommandResult
from operations.core.files import private_binary, private_dir
from operations.engine.compose import Compose

log = logging.getLogger("cutover.backup")
DUMP_TIMEOUT_S = 3600.0
LIST_TIMEOUT_S = 300.0
_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class Backup:
    file: str
    bytes: int
    sha256: str
    format: str
    toc_entries: int
    # A SQL dump's proof: rows per table, equal in the database and in a scratch copy
    # loaded from the dump ({} for an archive proven by pg_restore --list).
    table_rows: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {"file": self.file, "bytes": self.bytes,
                                    "sha256": self.sha256, "format": self.format,
                                    "toc_entries": self.toc_entries}
        if self.table_rows:
            found["table_rows"] = dict(self.table_rows)
        return found


class BackupError(Exception):
    """The backup is missing or unreadable; the message names the file, the evidence, the fix."""


def _stream(argv: list[str], *, stdin: Path | None, stdout: Path | None, timeout: float,
            record: CommandLog | None) -> CommandResult:
    """Run argv with files as stdin/stdout (binary, never in memory); stderr is kept."""
    log.info("run: %s", " ".join(argv))
    started = time.monotonic()
    source = stdin.open("rb") if stdin is not None else subprocess.DEVNULL
    sink = private_binary(stdout) if stdout is not None else subprocess.PIPE
    try:
        done = subprocess.run(argv, stdin=source, stdout=sink, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
        code: int | None = done.returncode
        out = done.stdout.decode(errors="replace") if stdout is None else ""
        err = done.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as exc:
        code, out, err = None, "", (exc.stderr or b"").decode(errors="replace")
    finally:
        for handle in (source, sink):
            if not isinstance(handle, int):
                handle.close()
    result = CommandResult(tuple(argv), code, out, err, time.monotonic() - started)
    log.info("exit %s after %.2fs: %s", code, result.duration_s, argv[0])
    if record is not None:
        record.add(result)
    return result


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def dump_database(compose: Compose, service: str, database: Database, path: Path,
                  record: CommandLog | None = None) -> Backup:
    """pg_dump -Fc through the database container into `path`, then verify it."""
    private_dir(path.parent)  # a whole database: the owner's only (0700, the dump 0600)
    # The container's local socket: the server's own tools, the server's own version.
    dump = [*compose.base_argv, "exec", "-T", service, "pg_dump", "--format=custom",
            "--username", database.user, "--dbname", database.name]
    result = _stream(dump, stdin=None, stdout=path, timeout=DUMP_TIMEOUT_S, record=record)
    if not result.ok:
        raise BackupError(f"pg_dump of {database.name!r} in service {service!r} failed: "
                          f"{result.describe()} (is the service running? check its logs)")
    return verify_archive(compose, service, path, path.stat().st_size, record=record)


def verify_archive(compose: Compose, service: str, path: Path, size: int,
                   record: CommandLog | None = None) -> Backup:
    """`pg_restore --list` reads the archive back through the database's container."""
    listing = [*compose.base_argv, "exec", "-T", service, "pg_restore", "--list"]
    check = _stream(listing, stdin=path, stdout=None, timeout=LIST_TIMEOUT_S, record=record)
    entries = [line for line in check.stdout.splitlines() if line and not line.startswith(";")]
    if not check.ok or not entries:
        raise BackupError(f"backup {path} ({size} bytes) is not a readable archive: "
                          f"{check.describe()} (rerun the rollback to take a new backup)")
    return Backup(str(path), size, sha256_file(path), "custom", len(entries))
