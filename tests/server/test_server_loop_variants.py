"""The loop-level zoo variants (issue 21) do what their table entries say, and the clean classes are untouched.

No live server here: a ``Server`` object on a real listener, asked what it would pass to ``epoll.poll``, and a
connection over the fake transport. The live symptoms are in test_server_bugs.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from server import bugs as zoo
from server.bugs import connection_class, server_class
from server.config import parse_config
from server.connection import EPOLLIN, EPOLLRDHUP, Connection
from server.loop import Server, create_listener
from tests.server.test_server_connection import GET, FakeSocket, make
from tests.server.test_server_fast_path_rules import variant_connection

LOOP_VARIANTS = ("floored_timeout", "poll_1ms", "periodic_stall")
MakeServer = Callable[[str | None], Server]


@pytest.fixture
def make_server() -> Iterator[MakeServer]:
    made: list[Server] = []

    def build(bug: str | None) -> Server:
        config = parse_config(["--host", "127.0.0.1", "--port", "0"] + (["--bug", bug] if bug else []), {})
        server = (Server if bug is None else server_class(bug))(config, create_listener(config.host, 0, 16))
        made.append(server)
        return server

    yield build
    for server in made:
        server._close_all()


def test_each_loop_variant_is_a_subclass_of_the_clean_server_making_clean_connections() -> None:
    for name in LOOP_VARIANTS:
        cls = server_class(name)
        assert cls is not Server and issubclass(cls, Server)
        assert connection_class(name) is Connection and cls.connection_class is Connection  # the loop's only
    fin = server_class("fin_waits_for_idle_timer")  # a connection variant: the clean loop, its connections
    assert fin.__mro__[1] is Server and fin.connection_class is connection_class("fin_waits_for_idle_timer")
    assert fin.connection_class is not Connection and Server.connection_class is Connection


@pytest.mark.parametrize(("left", "clean", "floored"), [(0.7, 0.7, 0.0), (2.5, 2.5, 2.0), (1.0, 1.0, 1.0)])
def test_floored_timeout_polls_with_0_when_under_a_second_is_left(
    make_server: MakeServer, left: float, clean: float, floored: float
) -> None:
    now = 100.0
    for bug, expected in ((None, clean), ("floored_timeout", floored)):
        server = make_server(bug)
        server._accept_paused_until = now + left  # a deadline, without a connection
        assert server._poll_timeout(now) == pytest.approx(expected)
        server._accept_paused_until = None
        assert server._poll_timeout(now) == -1  # no deadline at all: both block


def test_poll_1ms_never_blocks_longer_than_a_millisecond(make_server: MakeServer) -> None:
    clean, polling = make_server(None), make_server("poll_1ms")
    now = 100.0
    assert clean._poll_timeout(now) == -1 and polling._poll_timeout(now) == 0.001  # idle: block vs poll
    for server in (clean, polling):
        server._accept_paused_until = now + 0.0004
    assert clean._poll_timeout(now) == polling._poll_timeout(now) == pytest.approx(0.0004)


def test_periodic_stall_blocks_half_a_second_every_two(
    make_server: MakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    clock = [102.0]  # where the blocking call starts

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(zoo, "sleep", sleep)
    monkeypatch.setattr(zoo, "monotonic", lambda: clock[0])
    server = make_server("periodic_stall")
    assert server._poll_timeout(100.0) == pytest.approx(2.0)  # idle, yet woken for the stall it has planned
    assert server._poll_timeout(101.0) == pytest.approx(1.0) and slept == []
    assert server._poll_timeout(102.0) == pytest.approx(2.0)  # due: blocked 0.5 s, then 2 s to the next
    assert slept == [0.5] and clock[0] == 102.5
    assert server._poll_timeout(103.0) == pytest.approx(1.5) and slept == [0.5]
    assert make_server(None)._poll_timeout(102.0) == -1


def test_fin_between_requests_waits_for_the_idle_timer() -> None:
    sock = FakeSocket([GET])
    conn = variant_connection("fin_waits_for_idle_timer", sock, now=0.0)
    conn.handle_event(EPOLLIN, 1.0)
    assert bytes(sock.sent).startswith(b"HTTP/1.1 200 ")
    sock.incoming.append(b"")  # the client's FIN, between requests
    conn.handle_event(EPOLLIN | EPOLLRDHUP, 2.0)
    assert conn.close_reason is None and not sock.closed  # CLOSE_WAIT: noted, not acted upon
    assert conn.mask & (EPOLLIN | EPOLLRDHUP) == 0  # no longer read: level mode does not spin on it
    assert conn.deadline == 2.0 + 5.0  # the idle timer
    recvs = sock.recv_calls
    conn.on_timeout(7.0)
    assert conn.close_reason == "timeout" and sock.recv_calls == recvs

    clean_sock = FakeSocket([GET])
    clean, _ = make(clean_sock)
    clean.handle_event(EPOLLIN, 1.0)
    clean_sock.incoming.append(b"")
    clean.handle_event(EPOLLIN | EPOLLRDHUP, 2.0)
    assert clean.close_reason == "eof"  # the clean server closes on the FIN itself


def test_fin_waits_for_idle_timer_still_sees_a_fin_mid_request_or_before_any() -> None:
    cases: list[list[bytes | BaseException]] = [[GET[:10], b""], [b""]]
    for incoming in cases:
        sock = FakeSocket(incoming)
        conn = variant_connection("fin_waits_for_idle_timer", sock)
        conn.handle_event(EPOLLIN | EPOLLRDHUP, 1.0)
        conn.handle_event(EPOLLIN | EPOLLRDHUP, 1.1)
        assert conn.close_reason == "eof", incoming
