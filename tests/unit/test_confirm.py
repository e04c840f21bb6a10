"""The confirmer asks on a real terminal (a pseudo-terminal here) and nowhere else."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterator

import pytest

from operations.rollback.confirm import Confirmer, NoTerminal


@pytest.fixture
def terminal() -> Iterator[tuple[int, str]]:
    """The master side of a pty and the path of its slave (what /dev/tty would be)."""
    master, slave = os.openpty()
    try:
        yield master, os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


def _type(master: int, text: str) -> None:
    os.write(master, text.encode())


def _screen(master: int, wanted: bytes, timeout: float = 5.0) -> bytes:
    """What the terminal showed, read until `wanted` appears (the echo may come first)."""
    seen, deadline = b"", time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            seen += os.read(master, 4096)
    return seen


@pytest.mark.parametrize(("typed", "confirmed"), [
    ("yes\n", True), ("Y\n", True), ("  yes  \n", True),
    ("no\n", False), ("\n", False), ("yess\n", False), ("sure\n", False),
])
def test_only_yes_confirms(terminal, typed, confirmed):
    master, path = terminal
    asker = Confirmer(assume_yes=False, tty_path=path)
    _type(master, typed)
    answer = asker.ask("Stop backend?")
    asker.close()
    assert answer.confirmed is confirmed
    assert answer.how.startswith("terminal: ")
    assert b"Stop backend? (yes/no): " in _screen(master, b"Stop backend? (yes/no): ")


def test_yes_option_answers_without_a_terminal():
    asker = Confirmer(assume_yes=True, tty_path="/nonexistent/tty")
    asker.require_terminal()
    assert asker.ask("Proceed?").confirmed
    assert [a.as_dict() for a in asker.answers] == [
        {"question": "Proceed?", "answer": "yes", "how": "--yes"}]


def test_no_terminal_names_yes(tmp_path):
    asker = Confirmer(assume_yes=False, tty_path=str(tmp_path / "no-tty"))
    with pytest.raises(NoTerminal, match=r"--yes"):
        asker.require_terminal()
    with pytest.raises(NoTerminal):
        asker.ask("Proceed?")
    assert asker.answers == []


def test_answers_are_recorded_in_order(terminal):
    master, path = terminal
    asker = Confirmer(assume_yes=False, tty_path=path)
    _type(master, "yes\n")
    asker.ask("one?")
    _type(master, "no\n")
    asker.ask("two?")
    asker.close()
    assert [(a.question, a.confirmed) for a in asker.answers] == [("one?", True), ("two?", False)]
