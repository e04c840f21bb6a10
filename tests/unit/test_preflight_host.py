"""Host probes: parsers on real command output of this machine, through a local runner."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path

from operations.core.commands import CommandResult, run
from operations.preflight import host


class LocalRunner:
    name = "local"

    def __call__(self, argv: Sequence[str]) -> CommandResult:
        return run(argv, timeout=30)


def test_stat_reports_present_files_and_leaves_out_missing_ones(tmp_path: Path) -> None:
    secret = tmp_path / "with\ttab and space"
    secret.write_text("value")
    secret.chmod(0o640)
    found, result = host.stat_files(LocalRunner(), [str(secret), str(tmp_path / "gone"),
                                                    str(tmp_path)])
    assert set(found) == {str(secret), str(tmp_path)}
    facts = found[str(secret)]
    assert (facts.size, facts.mode, facts.is_file, facts.is_dir) == (5, 0o640, True, False)
    assert found[str(tmp_path)].is_dir
    assert "gone" in result.stderr


def test_stat_marks_an_empty_file_as_a_file(tmp_path: Path) -> None:
    (tmp_path / "empty").touch()
    found, _ = host.stat_files(LocalRunner(), [str(tmp_path / "empty")])
    assert found[str(tmp_path / "empty")].is_file
    assert found[str(tmp_path / "empty")].size == 0


def test_disk_free_matches_statvfs(tmp_path: Path) -> None:
    facts, _ = host.disk_free(LocalRunner(), str(tmp_path))
    assert facts is not None
    vfs = os.statvfs(tmp_path)
    expected_kib = vfs.f_bavail * vfs.f_frsize // 1024
    assert abs(facts.free_kib - expected_kib) < 64 * 1024  # other writers, same disk
    assert facts.size_kib >= facts.free_kib


def test_disk_free_of_a_missing_path_is_none(tmp_path: Path) -> None:
    facts, result = host.disk_free(LocalRunner(), str(tmp_path / "gone"))
    assert facts is None and not result.ok


def test_nonblank_decides_on_the_host(tmp_path: Path) -> None:
    paths = {"value": "s3cret\n", "blank": " \n\t\n", "empty": ""}
    for name, text in paths.items():
        (tmp_path / name).write_text(text)
    found, result = host.nonblank_files(LocalRunner(), [str(tmp_path / n) for n in paths])
    assert found == {str(tmp_path / "value"): True, str(tmp_path / "blank"): False,
                     str(tmp_path / "empty"): False}
    assert "s3cret" not in result.stdout + result.stderr


def test_listeners_and_their_owner_are_found_for_ipv4_and_ipv6() -> None:
    with socket.socket() as four, socket.socket(socket.AF_INET6) as six:
        four.bind(("127.0.0.1", 0))
        four.listen()
        six.bind(("::1", 0))
        six.listen()
        found, _ = host.tcp_listeners(LocalRunner())
        mine = {(entry.address, entry.port): entry for entry in found}
        v4 = mine[("127.0.0.1", four.getsockname()[1])]
        v6 = mine[("::1", six.getsockname()[1])]
        owners, note = host.socket_owners(LocalRunner(), [v4.inode, v6.inode])
    assert note == ""
    assert owners[v4.inode].pid == os.getpid() == owners[v6.inode].pid
    assert owners[v4.inode].name == Path(f"/proc/{os.getpid()}/comm").read_text().strip()


def test_a_connected_socket_is_not_a_listener() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            found, _ = host.tcp_listeners(LocalRunner())
            client_port = client.getsockname()[1]
    ports = {entry.port for entry in found}
    assert port in ports and client_port not in ports


def test_parse_proc_net_tcp_decodes_addresses() -> None:
    text = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"
        "  timeout inode\n"
        "   0: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000"
        "     0        0 4242 1 0000000000000000 100 0 0 10 0\n"
        "   1: 0100007F:1539 0100007F:9C40 01 00000000:00000000 00:00000000 00000000"
        "     0        0 4343 1 0000000000000000 100 0 0 10 0\n"
    )
    assert host.parse_proc_net_tcp(text) == [host.Listener("127.0.0.1", 5432, 4242)]


def test_parse_fd_listing_maps_sockets_to_pids() -> None:
    listing = (
        "/proc/12/fd:\ntotal 0\nlrwx------ 1 root root 64 Nov 29 08:55 0 -> /dev/null\n"
        "lrwx------ 1 root root 64 Nov 29 08:55 3 -> socket:[777]\n\n"
        "/proc/13/fd:\nlrwx------ 1 root root 64 Nov 29 08:55 4 -> socket:[888]\n"
    )
    assert host.parse_fd_listing(listing) == {777: 12, 888: 13}
    assert host.parse_comm("/proc/12/comm:postgres\n/proc/13/comm:docker-proxy\n") == {
        12: "postgres", 13: "docker-proxy"}
