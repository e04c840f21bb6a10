"""Owner-only files and directories, whatever the umask: run records, exports, dumps, state.

mkdir's and open's modes are cut by the umask but never widened by it, so each helper sets
the mode explicitly after creating (0700 directories, 0600 files).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# Permission bits for the group and for others: any of them set means others have access.
_OTHERS_BITS = 0o077


def private_dir(path: Path) -> Path:
    """Create `path` (and every missing parent) as 0700; an existing `path` that we own is
    tightened to 0700. Parents that already existed are left as they are."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            pass  # created meanwhile by another run: tightened below if it is the leaf
        else:
            folder.chmod(PRIVATE_DIR_MODE)
    found = path.stat()
    if stat.S_IMODE(found.st_mode) != PRIVATE_DIR_MODE and found.st_uid == os.geteuid():
        path.chmod(PRIVATE_DIR_MODE)
    return path


def open_private(path: Path, *, exclusive: bool = False) -> int:
    """Open `path` for writing as a 0600 file (truncated, or new with `exclusive`); the fd."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # an existing file keeps its mode through O_CREAT
    except BaseException:
        os.close(fd)
        raise
    return fd


def private_binary(path: Path) -> BinaryIO:
    """`path.open("wb")`, but the file is 0600 from its creation on."""
    return os.fdopen(open_private(path), "wb")


def write_private_text(path: Path, text: str) -> Path:
    """Write `text` to `path` atomically (a 0600 temporary file, then renamed over it)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with os.fdopen(open_private(temporary), "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return path


def make_tree_private(root: Path) -> None:
    """Every directory under `root` (and itself) 0700, every file 0600; symlinks untouched."""
    for folder, dirs, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                path.chmod(PRIVATE_FILE_MODE)
        for name in dirs:
            path = Path(folder, name)
            if not path.is_symlink():
                path.chmod(PRIVATE_DIR_MODE)
    root.chmod(PRIVATE_DIR_MODE)


def others_access(path: Path) -> str:
    """'' when only the owner can use `path`; else what the group and others may do."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & _OTHERS_BITS:
        return ""
    who = []
    for label, shift in (("group", 3), ("others", 0)):
        bits = (mode >> shift) & 0o7
        if bits:
            rights = "".join(c for c, b in (("r", 4), ("w", 2), ("x", 1)) if bits & b)
            who.append(f"{label} {rights}")
    return f"mode {mode:04o} ({', '.join(who)})"
