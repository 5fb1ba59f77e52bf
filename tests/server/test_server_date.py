"""The Date header (RFC 9110 6.6.1): formatted once per second, and never stale in a memoized reply."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import pytest

from server.config import parse_config
from server.connection import EPOLLIN, Connection, Settings
from server.http.date import HttpDate, imf_fixdate
from server.loop import Server, create_listener
from server.routes import Router
from server.stats import Stats
from tests.server.live_server import FAST, Reader, ServerProcess, connect, wait_until
from tests.server.test_server_connection import GET, FakeSocket, responses

START = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT: RFC 9110's own example


class FakeWallClock:
    def __init__(self, wall: float) -> None:
        self.wall = wall

    def __call__(self) -> float:
        return self.wall


def test_the_format_is_imf_fixdate_with_english_names() -> None:
    assert imf_fixdate(int(START)) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert imf_fixdate(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert imf_fixdate(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT"


def test_it_is_formatted_once_per_second_and_says_when_the_next_second_begins() -> None:
    clock = FakeWallClock(START + 0.25)
    date = HttpDate(clock)
    memo = date.memo()
    memo["kept"] = b"reply"
    assert date.value == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert date.tick(10.0) == pytest.approx(10.75)  # monotonic 10.0 is wall .25: the next second in 0.75 s
    clock.wall = START + 0.9
    assert date.tick(10.65) == pytest.approx(10.75)
    assert memo == {"kept": b"reply"}  # the same second: nothing formatted, nothing forgotten
    clock.wall = START + 1.0
    assert date.tick(10.75) == pytest.approx(11.75)
    assert date.value == "Sun, 06 Nov 1994 08:49:38 GMT" and memo == {}


def _connection(date: HttpDate) -> tuple[FakeSocket, Connection]:
    sock = FakeSocket()
    stats = Stats("level", None)
    settings = Settings(header_timeout=2.0, idle_timeout=5.0, write_timeout=5.0, date=date)
    return sock, Connection(sock, settings, Router(stats.to_json, date), stats, 0.0)


def _ask(sock: FakeSocket, conn: Connection, request: bytes, now: float) -> tuple[int, str]:
    sock.sent.clear()
    sock.incoming.append(request)
    conn.handle_event(EPOLLIN, now)
    [(status, headers, _)] = responses(bytes(sock.sent))
    return status, headers["date"]


@pytest.mark.parametrize("request_bytes", [
    GET,  # the fast path's memo of whole requests (KnownRequests)
    b"GET /?n=1 HTTP/1.1\r\nHost: t\r\n\r\n",  # not kept whole (a query), but the "/" reply is memoized (Router)
    b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n",  # the memoized HEAD reply
    b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n",  # a 404 from the cache of heads
    b"GET /__lab/stats HTTP/1.1\r\nHost: t\r\n\r\n",  # made per request
])
def test_a_memoized_reply_carries_the_new_date_once_the_second_changes(request_bytes: bytes) -> None:
    clock = FakeWallClock(START + 0.5)
    date = HttpDate(clock)
    sock, conn = _connection(date)
    first = "Sun, 06 Nov 1994 08:49:37 GMT"
    assert _ask(sock, conn, request_bytes, 1.0)[1] == first  # through the slow path: the connection is fresh
    assert _ask(sock, conn, request_bytes, 1.1)[1] == first  # answered from the memos
    assert _ask(sock, conn, request_bytes, 1.2)[1] == first
    clock.wall = START + 1.5
    date.tick(2.0)  # as the loop does on its first wakeup in the new second
    assert _ask(sock, conn, request_bytes, 2.0)[1] == "Sun, 06 Nov 1994 08:49:38 GMT"
    assert _ask(sock, conn, request_bytes, 2.1)[1] == "Sun, 06 Nov 1994 08:49:38 GMT"


def test_an_error_response_carries_the_current_date() -> None:
    clock = FakeWallClock(START)
    date = HttpDate(clock)
    clock.wall = START + 3
    date.tick(1.0)
    sock, conn = _connection(date)
    status, value = _ask(sock, conn, b"GET / HTTP/1.1\r\n\r\n", 1.0)  # no Host: 400 and close
    assert (status, value) == (400, "Sun, 06 Nov 1994 08:49:40 GMT")


def test_the_loop_gives_one_date_to_the_router_and_the_connections_so_one_tick_refreshes_every_memo() -> None:
    config = parse_config(["--host", "127.0.0.1", "--port", "0"], {})
    server = Server(config, create_listener(config.host, 0, 16))
    try:
        assert server.router.date is server.settings.date is server.date
        server.router._root[("GET", True, "1.1")] = None  # type: ignore[assignment]
        server.settings.known.answers[GET] = b"stale"
        server.date.second -= 1  # as if the last tick was a second ago
        server.date.tick(0.0)
        assert server.router._root == {} and server.settings.known.answers == {}
    finally:
        server._close_all()


def test_the_live_server_sends_a_current_date_and_a_new_one_each_second(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "server", *FAST) as server, connect(server.address) as sock:
        reader = Reader(sock)

        def served_at() -> float:
            sock.sendall(GET)
            status, headers, _ = reader.response()
            assert status == 200
            return email.utils.parsedate_to_datetime(headers["date"]).timestamp()

        first = served_at()
        assert abs(first - time.time()) < 2  # the wall clock, in whole seconds
        # The same request on the same connection is answered from the memos; a later second must show.
        wait_until(lambda: time.time() >= first + 1.05, "the next wall-clock second", timeout=3)
        assert served_at() > first
