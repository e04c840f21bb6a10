"""The COPY OUT reader below psycopg's Copy object, driven by a scripted libpq connection."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import psycopg
import pytest
from psycopg import pq
from psycopg.waiting import Ready, Wait

from operations.rollback.export import copy_result, fill_block

END = object()  # get_copy_data returns -1: the COPY is over
NOTHING = object()  # get_copy_data returns 0: wait for the socket


@dataclass
class FakeResult:
    status: pq.ExecStatus
    command_tuples: int | None = None
    message: str = ""

    def error_field(self, field: pq.DiagnosticField) -> bytes | None:
        return b"57014" if field == pq.DiagnosticField.SQLSTATE else None

    def get_error_message(self, encoding: str = "utf-8") -> str:
        return self.message


@dataclass
class FakePGconn:
    """Answers get_copy_data from `script`; `busy` is how many consume_input calls it takes
    before the final results can be read."""

    script: deque[object]
    results: deque[FakeResult] = field(default_factory=deque)
    busy: int = 0
    consumed: int = 0

    def get_copy_data(self, async_: int) -> tuple[int, memoryview]:
        assert async_ == 1, "the reader must never block inside libpq"
        step = self.script.popleft()
        if step is NOTHING:
            return 0, memoryview(b"")
        if step is END:
            return -1, memoryview(b"")
        assert isinstance(step, bytes)
        return len(step), memoryview(step)

    def consume_input(self) -> None:
        self.consumed += 1
        self.busy = max(0, self.busy - 1)

    def is_busy(self) -> int:
        return self.busy

    def get_result(self) -> FakeResult | None:
        return self.results.popleft() if self.results else None


def drive(gen, answers=()):
    """Run a PQGen like Connection.wait: answer each wait with the next of `answers`
    (default: readable); return the generator's value and the waits it asked for."""
    queued = deque(answers)
    waits = []
    try:
        wait = next(gen)
        while True:
            waits.append(wait)
            wait = gen.send(queued.popleft() if queued else Ready.R)
    except StopIteration as stop:
        return stop.value, waits


def test_fill_drains_every_buffered_row_without_waiting():
    conn = FakePGconn(deque([b"a,1\n", b"b,2\n", b"c,3\n", END]))
    block = bytearray()
    more, waits = drive(fill_block(conn, block, 1 << 20))
    assert (more, bytes(block), waits) == (False, b"a,1\nb,2\nc,3\n", [])


def test_fill_stops_at_the_limit_and_resumes_where_it_stopped():
    conn = FakePGconn(deque([b"12345", b"67890", b"abc", END]))
    block = bytearray()
    assert drive(fill_block(conn, block, 8)) == (True, [])
    assert bytes(block) == b"1234567890"  # the limit plus at most one row
    block.clear()
    assert drive(fill_block(conn, block, 8)) == (False, [])
    assert bytes(block) == b"abc"


def test_fill_reads_the_socket_when_readable_and_on_a_timeout_tick():
    # A stream's tail can be shorter than SO_RCVLOWAT: only the tick (NONE) reads it.
    conn = FakePGconn(deque([b"x\n", NOTHING, NOTHING, b"y\n", END]))
    block = bytearray()
    more, waits = drive(fill_block(conn, block, 1 << 20), [Ready.R, Ready.NONE])
    assert (more, bytes(block)) == (False, b"x\ny\n")
    assert waits == [Wait.R, Wait.R]
    assert conn.consumed == 2


def test_result_is_the_row_count_of_the_copy_tag_after_waiting_while_busy():
    conn = FakePGconn(deque(), deque([FakeResult(pq.ExecStatus.COMMAND_OK, 1_000_000)]),
                      busy=2)
    rows, waits = drive(copy_result(conn, "utf-8"))
    assert rows == 1_000_000 and waits == [Wait.R]
    assert not conn.results


def test_a_server_error_ending_the_copy_is_raised_after_every_result_is_read():
    conn = FakePGconn(deque(), deque([FakeResult(pq.ExecStatus.FATAL_ERROR,
                                                 message="canceling statement")]))
    with pytest.raises(psycopg.errors.QueryCanceled, match="canceling statement"):
        drive(copy_result(conn, "utf-8"))
    assert not conn.results  # the connection is left idle, not mid-protocol


def test_receive_failure_is_an_operational_error_naming_libpq_message():
    class Broken(FakePGconn):
        def get_copy_data(self, async_: int) -> tuple[int, memoryview]:
            return -2, memoryview(b"")

        def get_error_message(self, encoding: str = "utf-8") -> str:
            return "server closed the connection unexpectedly"

    with pytest.raises(psycopg.OperationalError, match="server closed the connection"):
        drive(fill_block(Broken(deque()), bytearray(), 10))
