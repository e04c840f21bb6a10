"""Run records, exports, dumps and the state dir are owner-only whatever the umask."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fixtures.reporting import make_run_dir
from operations.core.files import (
    make_tree_private,
    others_access,
    private_binary,
    private_dir,
    write_private_text,
)
from operations.core.redact import Redactor
from operations.deploy import lock
from operations.deploy.history import write_last_deploy
from operations.record.manifest import OperationRecord, write_manifest
from operations.rollback.backup import _stream


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)



def test_private_dir_creates_every_missing_level_0700_and_tightens_the_leaf(
        tmp_path, permissive_umask):
    (tmp_path / "shared").mkdir(mode=0o755)
    made = private_dir(tmp_path / "shared" / "a" / "b")
    assert mode(tmp_path / "shared") == 0o755 & ~permissive_umask, "existing parents kept"
    assert mode(tmp_path / "shared" / "a") == mode(made) == 0o700
    made.chmod(0o755)
    assert mode(private_dir(made)) == 0o700


def test_private_files_are_0600_new_or_replaced(tmp_path, permissive_umask):
    existing = tmp_path / "old.csv"
    existing.write_text("x")
    existing.chmod(0o644)
    with private_binary(existing) as handle:
        handle.write(b"rows\n")
    assert mode(existing) == 0o600 and existing.read_bytes() == b"rows\n"
    written = write_private_text(tmp_path / "new.json", "{}\n")
    assert mode(written) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_the_deploy_lock_and_the_state_dir_are_owner_only(tmp_path, permissive_umask):
    path = tmp_path / "stack" / ".cutover" / lock.LOCK_NAME
    lock.acquire(path, lock.new_lock("op", "", "deploy", "2026-01-01T00:00:00+00:00"))
    assert (mode(path.parent), mode(path)) == (0o700, 0o600)


def test_the_release_history_is_owner_only(tmp_path, permissive_umask):
    written = write_last_deploy(tmp_path / ".cutover", {"cutover_at": "2026-01-01T00:00Z"})
    assert (mode(written.parent), mode(written)) == (0o700, 0o600)


def test_run_dirs_and_manifests_are_owner_only(tmp_path, permissive_umask):
    folder = make_run_dir(tmp_path / "reports", "deploy", datetime.now(UTC))
    record = OperationRecord("deploy", "t", "", "op", "h", "2026-01-01T00:00:00+00:00")
    paths = write_manifest(record, folder, "DEPLOY_MANIFEST.md", Redactor())
    assert mode(folder) == 0o700
    assert [mode(p) for p in paths] == [0o600, 0o600]


def test_a_dump_streamed_to_a_file_is_owner_only(tmp_path, permissive_umask):
    dump = private_dir(tmp_path / "export") / "db.dump"
    result = _stream(["printf", "PGDMP"], stdin=None, stdout=dump, timeout=10, record=None)
    assert result.ok and dump.read_bytes() == b"PGDMP"
    assert mode(dump) == 0o600


def test_make_tree_private_covers_what_other_plugins_wrote(tmp_path, permissive_umask):
    (tmp_path / "run" / "export").mkdir(parents=True)
    (tmp_path / "run" / "report.html").write_text("<html>")
    (tmp_path / "run" / "export" / "a.csv").write_text("x")
    (tmp_path / "run" / "latest").symlink_to("report.html")
    make_tree_private(tmp_path / "run")
    assert {str(p.relative_to(tmp_path)): mode(p) for p in tmp_path.rglob("*")} == {
        "run": 0o700, "run/export": 0o700, "run/report.html": 0o600,
        "run/export/a.csv": 0o600, "run/latest": 0o600}


@pytest.mark.parametrize(("bits", "expected"), [
    (0o700, ""), (0o750, "mode 0750 (group rx)"), (0o755, "mode 0755 (group rx, others rx)"),
    (0o703, "mode 0703 (others wx)"),
])
def test_others_access_names_what_the_group_and_others_may_do(tmp_path, bits, expected):
    tmp_path.chmod(bits)
    try:
        assert others_access(tmp_path) == expected
    finally:
        tmp_path.chmod(0o700)
