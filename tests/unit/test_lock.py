"""The deploy lock file: atomic, names its holder, only its owner removes it, stale rules."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from operations.deploy import lock


def _info(ticket: str = "CHG-1") -> lock.LockInfo:
    return lock.new_lock("alice", ticket, "deploy", "2026-01-23T12:00:00+00:00")


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_acquire_writes_the_holder_as_json(tmp_path: Path) -> None:
    path = tmp_path / "state" / lock.LOCK_NAME
    assert lock.acquire(path, _info()) is None
    written = json.loads(path.read_text())
    assert written["holder"] == "alice" and written["pid"] == os.getpid()
    assert written["host"] == socket.gethostname() and written["ticket"] == "CHG-1"
    assert written["acquired_at"] == "2026-01-23T12:00:00+00:00"


def test_a_second_acquire_fails_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / lock.LOCK_NAME
    lock.acquire(path, _info())
    with pytest.raises(lock.LockHeld) as raised:
        lock.acquire(path, _info("CHG-2"))
    message = str(raised.value)
    assert f"is held by deploy by alice (pid {os.getpid()} on {socket.gethostname()}" in message
    assert "ticket CHG-1" in message and not raised.value.stale


def test_only_one_of_many_concurrent_acquirers_wins(tmp_path: Path) -> None:
    path = tmp_path / lock.LOCK_NAME
    wins: list[bool] = []
    barrier = threading.Barrier(16)

    def contender() -> None:
        barrier.wait()
        try:
            lock.acquire(path, _info())
            wins.append(True)
        except lock.LockHeld:
            wins.append(False)

    threads = [threading.Thread(target=contender) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 1 and len(wins) == 16


def test_release_removes_only_our_own_lock(tmp_path: Path) -> None:
    path = tmp_path / lock.LOCK_NAME
    ours = _info()
    lock.acquire(path, ours)
    assert not lock.release(path, _info())  # another token: left alone
    assert path.exists()
    assert lock.release(path, ours) and not path.exists()
    assert not lock.release(path, ours)  # twice is harmless


def test_a_stale_lock_is_reported_and_kept_without_the_option(tmp_path: Path) -> None:
    path = tmp_path / lock.LOCK_NAME
    stale = replace(_info(), pid=_dead_pid())
    lock.acquire(path, stale)
    with pytest.raises(lock.LockHeld) as raised:
        lock.acquire(path, _info())
    assert raised.value.stale and "--break-stale-lock" in str(raised.value)
    assert json.loads(path.read_text())["pid"] == stale.pid


def test_break_stale_removes_a_dead_holders_lock(tmp_path: Path) -> None:
    path = tmp_path / lock.LOCK_NAME
    stale = replace(_info(), pid=_dead_pid())
    lock.acquire(path, stale)
    mine = _info()
    assert lock.acquire(path, mine, break_stale=True) == stale
    assert json.loads(path.read_text())["token"] == mine.token


def test_a_live_holder_is_never_broken(tmp_path: Path) -> None:
    path = tmp_path / lock.LOCK_NAME
    lock.acquire(path, _info())  # this process: alive
    with pytest.raises(lock.LockHeld):
        lock.acquire(path, _info(), break_stale=True)


def test_a_lock_from_another_host_is_never_stale() -> None:
    other = replace(_info(), host="elsewhere", pid=_dead_pid())
    assert not lock.is_stale(other)


def test_an_unreadable_lock_is_kept_and_the_message_says_what_to_check(tmp_path: Path) -> None:
    path = tmp_path / lock.LOCK_NAME
    path.write_text("")  # a crash between creating the file and writing it
    with pytest.raises(lock.LockHeld) as raised:
        lock.acquire(path, _info(), break_stale=True)
    message = str(raised.value)
    assert f"deploy lock {path} exists but cannot be read" in message
    assert f"check that no deploy is running on this target, then delete {path}" in message
    assert path.read_text() == ""


def test_a_lock_being_written_is_read_once_its_holder_has_written_it(tmp_path: Path) -> None:
    path = tmp_path / lock.LOCK_NAME
    path.write_text("")  # created (O_EXCL) by a holder that has not written it yet
    holder = _info()
    writer = threading.Timer(0.1, lambda: path.write_text(json.dumps(asdict(holder))))
    writer.start()
    with pytest.raises(lock.LockHeld) as raised:
        lock.acquire(path, _info("CHG-2"))
    writer.join()
    assert raised.value.info == holder and "is held by deploy by alice" in str(raised.value)


def test_a_lock_released_while_being_read_is_taken(tmp_path: Path) -> None:
    path = tmp_path / lock.LOCK_NAME
    path.write_text("")  # a holder that has just created it ...
    remover = threading.Timer(0.1, path.unlink)  # ... and gives up before writing it
    remover.start()
    mine = _info()
    assert lock.acquire(path, mine) is None
    remover.join()
    assert json.loads(path.read_text())["token"] == mine.token
