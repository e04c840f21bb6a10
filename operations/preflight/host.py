"""Host facts for the preflight checks, asked through a command runner (testinfra's host).

Each question is one command that answers for every resource at once (one `stat` for all
files, one read of /proc/net/tcp for all ports), so a remote host costs a few round trips.
Secret files are never read: `grep -c` counts their non-blank lines on the host itself.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from operations.core.commands import CommandResult


class HostRunner(Protocol):
    """Runs an argument list on the checked host (local, or wherever --hosts points)."""

    name: str

    def __call__(self, argv: Sequence[str]) -> CommandResult: ...


# Name last: it is the only field that may contain the separator.
STAT_FORMAT = "%s\t%a\t%U\t%F\t%n"


@dataclass(frozen=True)
class FileFacts:
    path: str
    size: int
    mode: int
    owner: str
    kind: str  # stat's %F: "regular file", "regular empty file", "directory", ...

    @property
    def is_file(self) -> bool:
        return self.kind.startswith("regular")

    @property
    def is_dir(self) -> bool:
        return self.kind == "directory"


@dataclass(frozen=True)
class DiskFacts:
    filesystem: str
    size_kib: int
    free_kib: int
    mount: str


@dataclass(frozen=True)
class Listener:
    address: str
    port: int
    inode: int


@dataclass(frozen=True)
class Process:
    pid: int
    name: str


def stat_files(run: HostRunner, paths: Sequence[str]) -> tuple[dict[str, FileFacts], CommandResult]:
    """Facts for each path that exists (symlinks followed); missing paths are absent."""
    result = run(["stat", "-L", "-c", STAT_FORMAT, "--", *paths])
    return parse_stat(result.stdout), result


def parse_stat(stdout: str) -> dict[str, FileFacts]:
    found: dict[str, FileFacts] = {}
    for line in stdout.splitlines():
        fields = line.split("\t", 4)
        if len(fields) != 5 or not fields[0].isdigit():
            continue
        size, mode, owner, kind, path = fields
        found[path] = FileFacts(path, int(size), int(mode, 8), owner, kind)
    return found


def disk_free(run: HostRunner, path: str) -> tuple[DiskFacts | None, CommandResult]:
    result = run(["df", "-P", "-k", "--", path])
    return parse_df(result.stdout), result


def parse_df(stdout: str) -> DiskFacts | None:
    """The one data line of `df -P -k PATH`."""
    lines = [line for line in stdout.splitlines()[1:] if line.strip()]
    if not lines:
        return None
    fields = lines[-1].split()
    if len(fields) < 6 or not (fields[1].isdigit() and fields[3].isdigit()):
        return None
    return DiskFacts(fields[0], int(fields[1]), int(fields[3]), " ".join(fields[5:]))


def nonblank_files(run: HostRunner, paths: Sequence[str]) -> tuple[dict[str, bool], CommandResult]:
    """Whether each file has a non-whitespace character, decided on the host: no value
    leaves it."""
    result = run(["grep", "-c", "-H", "[^[:space:]]", "--", *paths])
    found: dict[str, bool] = {}
    for line in result.stdout.splitlines():
        path, _, count = line.rpartition(":")
        if count.isdigit():
            found[path] = int(count) > 0
    return found, result


def tcp_listeners(run: HostRunner) -> tuple[list[Listener], CommandResult]:
    """Every listening TCP socket, IPv4 and IPv6, from the kernel's own tables."""
    result = run(["cat", "/proc/net/tcp", "/proc/net/tcp6"])
    return parse_proc_net_tcp(result.stdout), result


_LISTEN = "0A"


def parse_proc_net_tcp(text: str) -> list[Listener]:
    found: list[Listener] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10 or fields[3] != _LISTEN or ":" not in fields[1]:
            continue
        address_hex, _, port_hex = fields[1].partition(":")
        try:
            found.append(Listener(_address(address_hex), int(port_hex, 16), int(fields[9])))
        except ValueError:
            continue
    return found


def _address(hex_text: str) -> str:
    """The kernel prints addresses as host-order 32-bit words."""
    raw = bytes.fromhex(hex_text)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, words)


def socket_owners(run: HostRunner, inodes: Iterable[int]) -> tuple[dict[int, Process], str]:
    """Which process holds each socket inode: scans /proc/<pid>/fd, then reads the names.

    Returns what was found and a note for the evidence (e.g. when /proc hides processes).
    """
    wanted = set(inodes)
    listing = run(["sh", "-c", "ls -l /proc/[0-9]*/fd 2>/dev/null"])
    pids = {inode: pid for inode, pid in parse_fd_listing(listing.stdout).items()
            if inode in wanted}
    if not pids:
        return {}, "no process visible to this user holds the socket (run as root to see it)"
    names = run(["grep", "-H", "", *(f"/proc/{pid}/comm" for pid in set(pids.values()))])
    comm = parse_comm(names.stdout)
    return {inode: Process(pid, comm.get(pid, "?")) for inode, pid in pids.items()}, ""


_FD_HEADER = re.compile(r"^/proc/(\d+)/fd:$")
_SOCKET = re.compile(r"-> socket:\[(\d+)\]$")


def parse_fd_listing(stdout: str) -> dict[int, int]:
    """`ls -l /proc/*/fd` → {socket inode: pid}."""
    owners: dict[int, int] = {}
    pid: int | None = None
    for line in stdout.splitlines():
        header = _FD_HEADER.match(line)
        if header:
            pid = int(header[1])
            continue
        link = _SOCKET.search(line)
        if link and pid is not None:
            owners.setdefault(int(link[1]), pid)
    return owners


def parse_comm(stdout: str) -> dict[int, str]:
    """`grep -H '' /proc/<pid>/comm ...` → {pid: process name}."""
    names: dict[int, str] = {}
    for line in stdout.splitlines():
        match = re.match(r"^/proc/(\d+)/comm:(.*)$", line)
        if match:
            names[int(match[1])] = match[2]
    return names


def read_text(run: HostRunner, path: str) -> CommandResult:
    return run(["cat", "--", path])
