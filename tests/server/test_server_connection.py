"""Connection logic against a fake transport: partial sends, EAGAIN, resets, half-close, timeouts."""

from __future__ import annotations

import errno
import socket
from collections import deque

import pytest

from server.connection import (
    EPOLLERR,
    EPOLLET,
    EPOLLHUP,
    EPOLLIN,
    EPOLLOUT,
    EPOLLRDHUP,
    FILL_TARGET,
    HIGH_WATER,
    READ_BUDGET,
    READ_TIME_BUDGET_S,
    Connection,
    Settings,
)
from server.http import response
from server.http.date import HttpDate
from server.http.parser import Limits
from server.routes import Router, pattern
from server.stats import Stats

EAGAIN = BlockingIOError(errno.EAGAIN, "try again")
GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
DATE = HttpDate(lambda: 784111777.0)  # a stopped clock (RFC 9110's example date): responses compare byte for byte
HELLO_RESPONSE = response.head(200, 13, date=DATE.value) + b"hello, epoll\n"


class FakeSocket:
    """Scripted non-blocking socket. ``incoming`` items: bytes, b"" for end of input, or an exception."""

    def __init__(self, incoming: list[bytes | BaseException] | None = None) -> None:
        self.incoming: deque[bytes | BaseException] = deque(incoming or [])
        self.send_script: deque[int | BaseException] = deque()  # per call: max bytes, or raise
        self.send_limit: int | None = None  # when the script is empty
        self.blocked = False  # every send raises EAGAIN
        self.sent = bytearray()
        self.recv_calls = 0
        self.send_calls = 0
        self.shut_wr = False
        self.shutdown_error: OSError | None = None
        self.so_error = 0
        self.options: list[tuple[int, int, int]] = []
        self.closed = False

    def fileno(self) -> int:
        return 99

    def close(self) -> None:
        self.closed = True

    def recv(self, bufsize: int, /) -> bytes:
        """Like the kernel: the data queued so far comes back together, up to ``bufsize``."""
        self.recv_calls += 1
        data = bytearray()
        while self.incoming and isinstance(self.incoming[0], bytes) and self.incoming[0] and len(data) < bufsize:
            item = self.incoming.popleft()
            assert isinstance(item, bytes)
            take = bufsize - len(data)
            if len(item) > take:
                self.incoming.appendleft(item[take:])
            data += item[:take]
        if data:
            return bytes(data)
        if not self.incoming:
            raise EAGAIN
        item = self.incoming.popleft()
        if isinstance(item, BaseException):
            raise item
        return item  # b"": end of input

    def send(self, data: bytes | bytearray | memoryview, /) -> int:
        self.send_calls += 1
        limit = self.send_limit
        if self.send_script:
            step = self.send_script.popleft()
            if isinstance(step, BaseException):
                raise step
            limit = step
        elif self.blocked:
            raise EAGAIN
        n = len(data) if limit is None else min(limit, len(data))
        self.sent += bytes(data[:n])
        return n

    def shutdown(self, how: int, /) -> None:
        if self.shutdown_error is not None:
            raise self.shutdown_error
        assert how == socket.SHUT_WR
        self.shut_wr = True

    def setsockopt(self, level: int, optname: int, value: int, /) -> None:
        self.options.append((level, optname, value))

    def getsockopt(self, level: int, optname: int, /) -> int:
        return self.so_error


def make(
    sock: FakeSocket, now: float = 0.0, max_body_bytes: int = 1 << 20, cls: type[Connection] = Connection,
    **kwargs: object,
) -> tuple[Connection, Stats]:
    """A connection over ``sock`` (of class ``cls``: a zoo variant's, or the clean one)."""
    stats = Stats("edge" if kwargs.get("edge") else "level", None)
    settings = Settings(
        header_timeout=2.0, idle_timeout=5.0, write_timeout=5.0,
        limits=Limits(max_body_bytes=max_body_bytes), date=DATE, **kwargs,  # type: ignore[arg-type]
    )
    return cls(sock, settings, Router(stats.to_json, DATE), stats, now), stats


def responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Split a byte stream of responses by Content-Length."""
    out = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)  # offsets, not slices: linear in the stream
        assert end >= 0, data[pos : pos + 200]
        lines = data[pos:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0")) if status >= 200 else 0
        pos = end + 4 + length
        out.append((status, headers, data[end + 4 : pos]))
    return out


def test_get_answers_and_stays_registered_for_input_only() -> None:
    sock = FakeSocket([GET])
    conn, stats = make(sock)
    conn.handle_event(EPOLLIN, 1.0)
    assert bytes(sock.sent) == HELLO_RESPONSE
    assert conn.close_reason is None
    assert conn.event_mask() == EPOLLIN | EPOLLRDHUP  # no EPOLLOUT once output is flushed
    assert conn.deadline == 1.0 + 5.0  # idle keep-alive
    assert stats.requests == 1
    assert sock.recv_calls == 1  # level-triggered: one recv per wakeup


def test_partial_sends_and_eagain_register_epollout_until_flushed() -> None:
    sock = FakeSocket([GET])
    sock.send_script.extend([5, EAGAIN, 3, EAGAIN])
    conn, _ = make(sock)
    conn.handle_event(EPOLLIN, 0.0)
    assert bytes(sock.sent) == HELLO_RESPONSE[:5]
    assert conn.event_mask() & EPOLLOUT
    conn.handle_event(EPOLLOUT, 0.1)
    assert bytes(sock.sent) == HELLO_RESPONSE[:8]
    assert conn.event_mask() & EPOLLOUT
    sock.send_limit = 4
    conn.handle_event(EPOLLOUT, 0.2)
    assert bytes(sock.sent) == HELLO_RESPONSE
    assert not conn.event_mask() & EPOLLOUT


def test_large_response_to_a_stalled_reader_is_bounded_and_times_out() -> None:
    sock = FakeSocket([b"GET /bytes/100000000 HTTP/1.1\r\nHost: t\r\n\r\n"])
    sock.send_script.append(1000)
    sock.blocked = True
    conn, _ = make(sock)
    conn.handle_event(EPOLLIN, 0.0)
    assert len(sock.sent) == 1000
    assert conn.output_buffered <= 2 * FILL_TARGET  # the 100 MB body is produced lazily
    assert conn.deadline == 5.0  # stalled write
    conn.on_timeout(5.0)
    assert conn.close_reason == "timeout"
    assert conn.output_buffered == 0  # memory dropped with the connection


def test_client_that_never_reads_cannot_grow_output_without_bound() -> None:
    # 20000 pipelined requests (600 kB) for 1000 bytes each, and a client that never reads.
    sock = FakeSocket([b"GET /bytes/1000 HTTP/1.1\r\nHost: t\r\n\r\n" * 20000])
    sock.blocked = True
    conn, _ = make(sock)
    for _ in range(50):
        conn.handle_event(EPOLLIN, 0.0)
    assert conn.output_buffered < HIGH_WATER + 64 * 1024
    assert not conn.event_mask() & EPOLLIN  # reading paused
    assert conn.event_mask() & EPOLLOUT
    assert sock.incoming  # most requests are still unread in the kernel
    sock.blocked = False
    for _ in range(1000):
        conn.handle_event(EPOLLOUT, 0.0)
        conn.handle_event(EPOLLIN, 0.0)
        if not sock.incoming and not conn.output_buffered:
            break
    got = responses(bytes(sock.sent))
    assert len(got) == 20000
    assert all(body == pattern(0, 1000) for _, _, body in got)


def test_pipelined_responses_go_out_in_order() -> None:
    stream = (
        b"GET /bytes/200000 HTTP/1.1\r\nHost: t\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
        b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    sock = FakeSocket([stream])
    sock.send_limit = 7000
    conn, _ = make(sock, edge=True)
    for _ in range(200):
        conn.handle_event(EPOLLIN | EPOLLOUT, 0.0)
    got = responses(bytes(sock.sent))
    assert [status for status, _, _ in got] == [200, 200, 404, 200]
    assert got[0][2] == b"".join(pattern(i, min(65536, 200000 - i)) for i in range(0, 200000, 65536))
    assert got[1][2] == b"abc"
    assert got[3][2] == b"hello, epoll\n"


def test_half_close_finishes_the_response_then_closes() -> None:
    sock = FakeSocket([b"GET /bytes/300000 HTTP/1.1\r\nHost: t\r\n\r\n", b""])
    sock.send_limit = 50000
    sock.send_script.extend([50000, EAGAIN])
    conn, _ = make(sock, edge=True)
    conn.handle_event(EPOLLIN | EPOLLRDHUP, 0.0)
    assert conn.close_reason is None  # the response is still owed
    assert conn.event_mask() == EPOLLOUT | EPOLLET  # no more input wanted after end of input
    while conn.close_reason is None:
        conn.handle_event(EPOLLOUT, 0.0)
    assert conn.close_reason == "eof"
    (status, _, body), = responses(bytes(sock.sent))
    assert status == 200
    assert len(body) == 300000


def test_end_of_input_on_an_idle_connection_closes_as_eof() -> None:
    sock = FakeSocket([b""])
    conn, _ = make(sock)
    conn.handle_event(EPOLLIN | EPOLLRDHUP, 0.0)
    assert conn.close_reason == "eof"
    assert sock.sent == b""


def test_end_of_input_mid_headers_closes_without_an_answer() -> None:
    sock = FakeSocket([b"GET / HTTP/1.1\r\nHost: t\r\nHo", b""])
    conn, _ = make(sock, edge=True)
    conn.handle_event(EPOLLIN | EPOLLRDHUP, 0.0)  # a queued FIN comes with EPOLLRDHUP
    assert conn.close_reason == "eof"
    assert sock.sent == b""


@pytest.mark.parametrize("code", [errno.ECONNRESET, errno.ENOTCONN, errno.EPIPE])
def test_reset_on_recv(code: int) -> None:
    sock = FakeSocket([b"GET / HT"])
    conn, _ = make(sock, edge=True)
    conn.handle_event(EPOLLIN, 0.0)
    assert conn.close_reason is None
    sock.incoming.append(OSError(code, "x"))
    conn.handle_event(EPOLLIN, 0.1)
    assert conn.close_reason == "reset"


@pytest.mark.parametrize("exc", [BrokenPipeError(errno.EPIPE, "x"), ConnectionResetError(errno.ECONNRESET, "x")])
def test_reset_on_send(exc: OSError) -> None:
    sock = FakeSocket([GET])
    sock.send_script.extend([3, exc])
    conn, _ = make(sock)
    conn.handle_event(EPOLLIN, 0.0)
    assert conn.close_reason == "reset"
    assert conn.output_buffered == 0


def test_enotconn_on_shutdown_closes_as_reset() -> None:
    sock = FakeSocket([b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"])
    sock.shutdown_error = OSError(errno.ENOTCONN, "not connected")
    conn, _ = make(sock)
    conn.handle_event(EPOLLIN, 0.0)
    assert conn.close_reason == "reset"


def test_epollerr_goes_through_the_read_path() -> None:
    sock = FakeSocket([ConnectionResetError(errno.ECONNRESET, "reset")])
    conn, _ = make(sock)
    conn.handle_event(EPOLLIN | EPOLLERR | EPOLLHUP, 0.0)
    assert conn.close_reason == "reset"
    assert sock.recv_calls == 1


def test_epollhup_without_error_closes_as_hup() -> None:
    sock = FakeSocket([])
    conn, _ = make(sock)
    conn.handle_event(EPOLLHUP, 0.0)
    assert conn.close_reason == "hup"


def test_protocol_error_answers_then_lingers_until_the_client_closes() -> None:
    sock = FakeSocket([b"GET / HTTP/1.1\r\nHost: t\r\nbad header\r\n\r\n", b"more junk", b"and more"])
    conn, stats = make(sock, edge=True)
    conn.handle_event(EPOLLIN, 0.0)
    (status, headers, _), = responses(bytes(sock.sent))
    assert (status, headers["connection"]) == (400, "close")
    assert stats.parse_errors == 1
    assert sock.shut_wr
    assert conn.close_reason is None  # draining, so the client reads its 400 instead of a reset
    assert not sock.incoming
    sock.incoming.append(b"")
    conn.handle_event(EPOLLIN, 0.1)
    assert conn.close_reason == "protocol"


def test_rejected_body_is_drained_before_closing() -> None:
    head = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n"
    sock = FakeSocket([head, *[b"x" * 65536] * 10])
    conn, _ = make(sock, edge=True)
    conn.handle_event(EPOLLIN, 0.0)
    while conn.needs_another_turn():
        conn.run(0.0)
    assert responses(bytes(sock.sent))[0][0] == 413
    assert not sock.incoming  # all of it read and dropped
    assert conn.close_reason is None
    conn.on_timeout(conn.deadline or 0.0)  # the client never closes: linger gives up
    assert conn.close_reason == "protocol"


def test_slowloris_gets_408_at_the_header_deadline() -> None:
    sock = FakeSocket([b"GET / HTTP/1.1\r\nHost: t\r\n"])
    conn, _ = make(sock, now=10.0)
    conn.handle_event(EPOLLIN, 10.0)
    for t in (10.5, 11.0, 11.5):  # a header byte now and then does not extend the deadline
        sock.incoming.append(b"X")
        conn.handle_event(EPOLLIN, t)
        assert conn.deadline == 12.0
    conn.on_timeout(12.0)
    (status, _, _), = responses(bytes(sock.sent))
    assert status == 408
    assert sock.shut_wr
    sock.incoming.append(b"")
    conn.handle_event(EPOLLIN, 12.1)
    assert conn.close_reason == "timeout"


def test_idle_connection_times_out_silently() -> None:
    sock = FakeSocket([GET])
    conn, _ = make(sock)
    conn.handle_event(EPOLLIN, 1.0)
    assert conn.deadline == 6.0
    sent = len(sock.sent)
    conn.on_timeout(6.0)
    assert conn.close_reason == "timeout"
    assert len(sock.sent) == sent


def test_connection_that_never_sends_times_out_silently() -> None:
    sock = FakeSocket([])
    conn, _ = make(sock, now=3.0)
    assert conn.deadline == 5.0
    conn.on_timeout(5.0)
    assert conn.close_reason == "timeout"
    assert sock.sent == b""


def test_edge_mode_reads_until_drained_within_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    import server.connection as connection_module

    monkeypatch.setattr(connection_module, "monotonic", lambda: 0.0)  # the count budget alone, not the time one
    body = b"y" * (65536 * (READ_BUDGET + 4))
    sock = FakeSocket([b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body), body])
    conn, _ = make(sock, edge=True, max_body_bytes=len(body))
    conn.handle_event(EPOLLIN, 0.0)
    assert sock.recv_calls == READ_BUDGET
    assert conn.needs_another_turn()  # the loop's ready list will come back
    conn.run(0.0)
    assert not sock.incoming
    assert not conn.needs_another_turn()  # the last read was short: the socket is empty
    # "/" exists but only for GET and HEAD: 405 with Allow (RFC 9110 15.5.6), not 404.
    (status, headers, _), = responses(bytes(sock.sent))
    assert (status, headers["allow"]) == (405, "GET, HEAD")


def test_edge_mode_stops_reading_once_the_turn_took_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A body whose parsing is slow (tiny chunks) must not hold the loop for sixteen reads: after
    READ_TIME_BUDGET_S of one turn the rest waits for the ready list, and other connections are served."""
    import server.connection as connection_module

    clock = iter(i * READ_TIME_BUDGET_S * 0.8 for i in range(1000))  # each read's parsing takes 0.8 of the budget
    monkeypatch.setattr(connection_module, "monotonic", lambda: next(clock))
    body = b"y" * (65536 * (READ_BUDGET + 4))
    sock = FakeSocket([b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body), body])
    conn, _ = make(sock, edge=True, max_body_bytes=len(body))
    conn.handle_event(EPOLLIN, 0.0)
    assert sock.recv_calls == 2  # the second read took the turn past its budget
    assert conn.needs_another_turn()


def test_level_mode_reads_once_per_wakeup() -> None:
    sock = FakeSocket([b"GET / HTTP/1.1\r\nHost: t\r\n"])
    conn, _ = make(sock)
    conn.handle_event(EPOLLIN, 0.0)
    assert sock.recv_calls == 1
    assert conn.needs_another_turn() is False
    sock.incoming.append(b"\r\n")
    conn.handle_event(EPOLLIN, 0.0)
    assert bytes(sock.sent) == HELLO_RESPONSE
    assert sock.recv_calls == 2


def test_edge_mode_skips_the_eagain_recv_after_a_short_read() -> None:
    sock = FakeSocket([GET])
    conn, _ = make(sock, edge=True)
    conn.handle_event(EPOLLIN, 0.0)
    assert bytes(sock.sent) == HELLO_RESPONSE
    assert sock.recv_calls == 1  # short: nothing left; the next arrival is a new edge
    assert not conn.needs_another_turn()


def test_edge_mode_reads_on_to_the_end_of_input_after_rdhup() -> None:
    sock = FakeSocket([GET, b""])
    conn, _ = make(sock, edge=True)
    conn.handle_event(EPOLLIN | EPOLLRDHUP, 0.0)  # no further edge will announce the FIN
    assert bytes(sock.sent) == HELLO_RESPONSE
    assert conn.close_reason == "eof"
    assert sock.recv_calls == 2


def test_expect_100_continue() -> None:
    sock = FakeSocket([b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"])
    conn, _ = make(sock, edge=True)
    conn.handle_event(EPOLLIN, 0.0)
    assert bytes(sock.sent) == response.CONTINUE
    sock.incoming.append(b"ok")
    conn.handle_event(EPOLLIN, 0.0)
    assert responses(bytes(sock.sent))[1][2] == b"ok"


def test_http10_without_keep_alive_closes_after_the_response() -> None:
    sock = FakeSocket([b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n"])
    conn, _ = make(sock)
    conn.handle_event(EPOLLIN, 0.0)
    got = responses(bytes(sock.sent))
    assert len(got) == 1  # the second request is drained, not answered
    assert got[0][1]["connection"] == "close"
    assert sock.shut_wr


def test_graceful_shutdown_closes_idle_and_finishes_in_flight() -> None:
    idle, _ = make(FakeSocket([]))
    idle.begin_shutdown(0.0)
    assert idle.close_reason == "eof"

    sock = FakeSocket([b"GET / HTTP/1.1\r\nHost: x\r\n"])
    busy, _ = make(sock)
    busy.handle_event(EPOLLIN, 0.0)
    busy.begin_shutdown(0.0)
    assert busy.close_reason is None
    sock.incoming.extend([b"\r\n", b""])
    busy.handle_event(EPOLLIN, 0.0)
    (status, headers, _), = responses(bytes(sock.sent))
    assert (status, headers["connection"]) == (200, "close")
    busy.handle_event(EPOLLIN, 0.0)
    assert busy.close_reason == "eof"


def test_tcp_cork_wraps_a_batch_of_pipelined_responses() -> None:
    sock = FakeSocket([GET * 3])
    conn, _ = make(sock, tcp_cork=True)
    conn.handle_event(EPOLLIN, 0.0)
    assert sock.options == [(socket.IPPROTO_TCP, socket.TCP_CORK, 1), (socket.IPPROTO_TCP, socket.TCP_CORK, 0)]
    assert bytes(sock.sent) == HELLO_RESPONSE * 3
    assert sock.send_calls == 1


# -- RFC 9112 fixes (issue 10) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"HEAD / HTTP/1.1\r\nHost: t\r\n"
     b"Bad Field\r\n\r\n", b"HEAD / HTTP/1.1\r\n\r\n", b"HEAD /nowhere HTTP/1.1\r\nHost: t\r\n\r\n"],
    ids=["malformed field", "no host", "404"],
)
def test_error_responses_to_head_carry_no_body(raw: bytes) -> None:
    sock = FakeSocket([raw])
    conn, _ = make(sock)
    conn.handle_event(EPOLLIN, 0.0)
    head, sep, body = bytes(sock.sent).partition(b"\r\n\r\n")
    assert sep and body == b""
    assert b"Content-Length: " in head  # as for GET: the length the body would have
    assert head.startswith((b"HTTP/1.1 400", b"HTTP/1.1 404"))


@pytest.mark.parametrize(
    ("target", "body"),
    [("/?x=1", b"hello, epoll\n"), ("/bytes/10?x", pattern(0, 10)), ("http://t:80/bytes/5?q", pattern(0, 5)),
     ("HTTP://t/", b"hello, epoll\n")],
)
def test_query_strings_and_absolute_form_route_on_the_path(target: str, body: bytes) -> None:
    sock = FakeSocket([f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode()])
    conn, _ = make(sock)
    conn.handle_event(EPOLLIN, 0.0)
    assert [(status, got) for status, _, got in responses(bytes(sock.sent))] == [(200, body)]


def test_echo_with_a_query_string_keeps_its_body() -> None:
    sock = FakeSocket([b"POST /echo?x=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"])
    conn, _ = make(sock)
    conn.handle_event(EPOLLIN, 0.0)
    assert responses(bytes(sock.sent))[0][2] == b"abc"


def test_a_chunked_body_is_one_buffer_not_a_list_of_chunks() -> None:
    chunks = b"".join(b"2\r\n%02d\r\n" % (i % 100) for i in range(5000))
    sock = FakeSocket([b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks])
    conn, _ = make(sock)
    conn.handle_event(EPOLLIN, 0.0)
    assert type(conn._body) is bytearray and len(conn._body) == 10000  # 2-byte chunks, one object
    sock.incoming.append(b"0\r\n\r\n")
    conn.handle_event(EPOLLIN, 0.1)
    assert responses(bytes(sock.sent))[0][2] == b"".join(b"%02d" % (i % 100) for i in range(5000))


@pytest.mark.parametrize(("so_error", "reason"), [(errno.ECONNRESET, "reset"), (errno.ETIMEDOUT, "error")])
def test_a_hangup_with_unread_input_is_closed_with_the_sockets_own_error(so_error: int, reason: str) -> None:
    # Level mode reads once per wakeup: pipelined requests still queued hide the reset behind them.
    sock = FakeSocket([b"GET /bytes/1000 HTTP/1.1\r\nHost: t\r\n\r\n" * 50])
    sock.blocked = True
    conn, _ = make(sock)
    conn.handle_event(EPOLLIN, 0.0)
    sock.incoming.append(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 50)
    sock.incoming.append(ConnectionResetError(errno.ECONNRESET, "reset"))
    sock.so_error = so_error
    conn.handle_event(EPOLLIN | EPOLLERR | EPOLLHUP, 0.1)
    assert conn.close_reason == reason


def test_a_hangup_without_an_error_is_hup() -> None:
    sock = FakeSocket([b"GET /bytes/1000 HTTP/1.1\r\nHost: t\r\n\r\n" * 50])
    sock.blocked = True
    conn, _ = make(sock)
    conn.handle_event(EPOLLIN, 0.0)
    sock.incoming.append(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 50)
    conn.handle_event(EPOLLIN | EPOLLHUP, 0.1)
    assert conn.close_reason == "hup"
