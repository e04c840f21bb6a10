"""The export directory: writable, owner-only, with room for the export and the backup."""

from __future__ import annotations

import pytest

from operations.core.files import others_access, private_dir
from operations.rollback.steps import RollbackError, free_bytes, probe_writable

pytestmark = pytest.mark.rollback
_MB = 1024 * 1024


def test_export_dir_writable(rollback_export_dir, evidence):
    """The export directory can be created and written."""
    try:
        private_dir(rollback_export_dir)  # what cutover creates is the owner's only
        probe_writable(rollback_export_dir)
    except OSError as exc:
        pytest.fail(f"export directory {rollback_export_dir} is not writable: "
                    f"{exc.strerror or exc} (fix its permissions or set [rollback] "
                    "export_dir to a writable directory)", pytrace=False)
    evidence.add_text("export directory", f"{rollback_export_dir}: created and written")


def test_export_dir_private(rollback_export_dir, evidence):
    """Only its owner can read or write the export directory (personal data, a whole dump)."""
    exposed = {folder: others_access(folder)
               for folder in (rollback_export_dir.parent, rollback_export_dir)
               if folder.is_dir() and others_access(folder)}
    lines = [f"{folder}: {access}" for folder, access in exposed.items()]
    evidence.add_text("export directory modes", "\n".join(lines) or "owner-only (0700)")
    if exposed:
        folder, access = next(iter(exposed.items()))
        pytest.fail(f"export directory {folder} is {access}: other users could read or "
                    "replace the exported rows and the database dump (chmod 700 "
                    f"{folder}, or set [rollback] export_dir to a directory only you can "
                    "use)", pytrace=False)


def test_room_for_export_and_backup(rollback_export_dir, target, db_engine, evidence):
    """Free space covers the estimated export and backup, from the table sizes."""
    try:
        estimate = db_engine.estimate_space(target.rollback.tables)
    except RollbackError as exc:
        pytest.fail(str(exc), pytrace=False)
    free = free_bytes(rollback_export_dir)
    lines = [f"{t}: {b / _MB:.1f} MB" for t, b in estimate.table_bytes.items()]
    lines += [f"database: {estimate.database_bytes / _MB:.1f} MB",
              f"needed (upper bound): {estimate.needed / _MB:.1f} MB",
              f"free at {rollback_export_dir}: {free / _MB:.1f} MB"]
    evidence.add_text("space", "\n".join(lines))
    if free < estimate.needed:
        pytest.fail(f"not enough room at {rollback_export_dir}: {free / _MB:.1f} MB free, "
                    f"export and backup need up to {estimate.needed / _MB:.1f} MB "
                    "(free space there, or set [rollback] export_dir elsewhere)",
                    pytrace=False)
