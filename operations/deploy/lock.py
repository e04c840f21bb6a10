"""The deploy lock: one JSON file in the target's state dir, created atomically (O_EXCL).

Only the process that wrote a lock removes it (its token must match), so a second deploy
that fails to get the lock can never release the first one's.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from operations.core.files import open_private, private_dir

LOCK_NAME = "deploy.lock"
_UNREADABLE_RETRIES = 10  # x 50 ms: far longer than creating and writing the file takes


@dataclass(frozen=True)
class LockInfo:
    holder: str  # operator
    pid: int
    host: str
    acquired_at: str
    ticket: str
    operation: str
    token: str

    def describe(self) -> str:
        ticket = f", ticket {self.ticket}" if self.ticket else ""
        return (f"{self.operation} by {self.holder} (pid {self.pid} on {self.host}, "
                f"since {self.acquired_at}{ticket})")


class LockError(Exception):
    """The lock cannot be taken; the message names the holder and the fix."""


class LockHeld(LockError):
    def __init__(self, path: Path, info: LockInfo | None, stale: bool) -> None:
        self.path, self.info, self.stale = path, info, stale
        who = info.describe() if info else "an unreadable lock file"
        if info is None:
            # Empty or damaged (a crash between creating and writing it): nobody can be
            # named, so nothing here may remove it.
            super().__init__(f"deploy lock {path} exists but cannot be read (empty or "
                             "damaged); check that no deploy is running on this target, then "
                             f"delete {path} and rerun")
        elif stale:
            fix = ("its process is gone: rerun with --break-stale-lock to remove it, "
                   f"or delete {path} after checking nobody is deploying")
            super().__init__(f"stale deploy lock {path}: held by {who}; {fix}")
        else:
            super().__init__(f"deploy lock {path} is held by {who}; wait for that deploy to "
                             "finish, or ask its holder")


def new_lock(holder: str, ticket: str, operation: str, acquired_at: str) -> LockInfo:
    return LockInfo(holder=holder, pid=os.getpid(), host=socket.gethostname(),
                    acquired_at=acquired_at, ticket=ticket, operation=operation,
                    token=uuid.uuid4().hex)


def read_lock(path: Path) -> LockInfo | None:
    """The lock's content; None when the file is missing or not a lock we can read."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return LockInfo(**raw)
    except (OSError, ValueError, TypeError):
        return None


def _read_settled(path: Path) -> LockInfo | None:
    """read_lock, allowing a holder that has just created the file a moment to write it."""
    for _ in range(_UNREADABLE_RETRIES):
        if (info := read_lock(path)) is not None or not path.exists():
            return info
        time.sleep(0.05)
    return read_lock(path)


def is_stale(info: LockInfo | None, host: str | None = None) -> bool:
    """Stale: written on this host by a process that no longer exists.

    A lock from another host is never called stale: its pid cannot be checked from here.
    """
    if info is None:
        return False
    if info.host != (host or socket.gethostname()):
        return False
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by someone else
    return False


def acquire(path: Path, info: LockInfo, *, break_stale: bool = False) -> LockInfo | None:
    """Take the lock or raise LockHeld. Returns the stale lock it broke, if any."""
    private_dir(path.parent)
    broken: LockInfo | None = None
    for _ in range(3):  # first try; after breaking a stale lock; after a release meanwhile
        try:
            fd = open_private(path, exclusive=True)
        except FileExistsError:
            existing = _read_settled(path)
            if existing is None and not path.exists():
                continue  # its holder released it while we looked: try again
            stale = is_stale(existing)
            if broken is not None or not (stale and break_stale):
                raise LockHeld(path, existing, stale) from None
            _remove_if(path, existing)
            broken = existing
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(info), handle, indent=2)
            handle.write("\n")
        return broken
    raise LockHeld(path, read_lock(path), False)  # a lock taken and released over and over


def release(path: Path, info: LockInfo) -> bool:
    """Remove the lock if it is still ours; True when it was removed."""
    return _remove_if(path, info)


def _remove_if(path: Path, expected: LockInfo | None) -> bool:
    current = read_lock(path)
    if current is None or expected is None or current.token != expected.token:
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
