"""KnownRequests, the fast path's memo of requests already parsed, checked and answered."""

from __future__ import annotations

import pytest

from server.connection import EPOLLIN, EPOLLOUT
from server.known import KnownRequests
from tests.server.test_server_connection import EAGAIN, GET, HELLO_RESPONSE, responses
from tests.server.test_server_fast_path import quiet_after_one_request


def test_it_holds_at_most_max_entries_and_starts_over_when_full() -> None:
    known = KnownRequests(max_entries=3)
    for i in range(3):
        known.remember(b"r%d" % i, b"a")
    assert len(known) == 3
    known.remember(b"r0", b"a")  # already there: nothing is dropped
    assert len(known) == 3
    known.remember(b"r3", b"a")
    assert len(known) == 1 and known.answers == {b"r3": b"a"}


def test_a_request_over_the_size_limit_is_not_kept() -> None:
    known = KnownRequests(max_request_bytes=8)
    known.remember(b"x" * 9, b"a")
    known.remember(b"x" * 8, b"a")
    assert known.answers == {b"x" * 8: b"a"}


def test_the_fast_path_keeps_a_valid_request_and_answers_it_again_without_parsing() -> None:
    sock, conn, stats = quiet_after_one_request()
    known = conn.settings.known
    assert len(known) == 0  # the first request came through the slow path
    sock.incoming.append(GET)
    assert conn.handle_event(EPOLLIN, 2.0) is True
    assert known.answers == {GET: HELLO_RESPONSE}
    conn.settings.quick_parser = None  # type: ignore[assignment]  # a parse now would fail loudly
    sock.incoming.append(GET)
    assert conn.handle_event(EPOLLIN, 3.0) is True
    assert bytes(sock.sent) == HELLO_RESPONSE * 2
    assert (stats.requests, stats.bytes_in, stats.bytes_out) == (3, 3 * len(GET), 3 * len(HELLO_RESPONSE))
    assert conn.requests == 3
    assert conn.deadline == 3.0 + 5.0


@pytest.mark.parametrize("request_bytes", [
    b"GET / HTTP/1.1\r\n\r\n",  # no Host: 400
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  # two Hosts: 400
    b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",  # an invalid Host: 400
    b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",  # Transfer-Encoding in 1.0: 400
    b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",  # valid, but it ends the connection
    b"GET /__lab/stats HTTP/1.1\r\nHost: t\r\n\r\n",  # valid, but its answer changes
    b"GET /bytes/3 HTTP/1.1\r\nHost: t\r\n\r\n",  # valid, answered by the general writer
    GET * 2,  # two requests in one read
    GET[:-2],  # half a request
    b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi",  # a body
])
def test_only_a_validated_request_with_a_fixed_answer_is_kept(request_bytes: bytes) -> None:
    sock, conn, _ = quiet_after_one_request()
    sock.incoming.append(request_bytes)
    conn.handle_event(EPOLLIN, 2.0)
    assert len(conn.settings.known) == 0


def test_an_invalid_request_seen_twice_gets_the_same_error_twice() -> None:
    bad = b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"
    for _ in range(2):
        sock, conn, stats = quiet_after_one_request()
        sock.incoming.append(bad)
        assert conn.handle_event(EPOLLIN, 2.0) is False
        assert responses(bytes(sock.sent))[0][0] == 400 and stats.parse_errors == 1


def test_a_known_request_whose_answer_does_not_fit_waits_for_epollout() -> None:
    sock, conn, _ = quiet_after_one_request()
    sock.incoming.append(GET)
    conn.handle_event(EPOLLIN, 2.0)  # now known
    sock.sent.clear()
    sock.incoming.append(GET)
    sock.send_script.append(EAGAIN)
    assert conn.handle_event(EPOLLIN, 3.0) is False
    assert conn.mask & EPOLLOUT and conn.output_buffered == len(HELLO_RESPONSE)
    assert conn.deadline == 3.0 + 5.0  # the write timeout
    conn.handle_event(EPOLLOUT, 3.1)
    assert bytes(sock.sent) == HELLO_RESPONSE and not conn.mask & EPOLLOUT
    sock.incoming.append(GET)
    sock.send_script.append(7)
    assert conn.handle_event(EPOLLIN, 4.0) is False
    conn.handle_event(EPOLLOUT, 4.1)
    assert bytes(sock.sent) == HELLO_RESPONSE * 2


def test_a_request_whose_target_has_a_query_is_answered_but_not_kept() -> None:
    sock, conn, _ = quiet_after_one_request()
    with_query = b"GET /?n=1 HTTP/1.1\r\nHost: t\r\n\r\n"
    for now in (2.0, 3.0):
        sock.incoming.append(with_query)
        assert conn.handle_event(EPOLLIN, now) is True  # the fast path, parsed each time
    assert bytes(sock.sent) == HELLO_RESPONSE * 2
    assert len(conn.settings.known) == 0
    sock.incoming.append(GET)
    conn.handle_event(EPOLLIN, 4.0)
    assert conn.settings.known.answers == {GET: HELLO_RESPONSE}  # the same path without a query is kept
