"""The fast path (Connection._quick): the quiet keep-alive wakeup, and every way out of it to the slow path."""

from __future__ import annotations

import errno

from server import bugs as zoo
from server.connection import EPOLLET, EPOLLIN, EPOLLOUT, EPOLLRDHUP, Connection
from server.stats import Stats
from tests.server.test_server_connection import EAGAIN, GET, HELLO_RESPONSE, FakeSocket, make, responses


def quiet_after_one_request(edge: bool = False, bug: str | None = None) -> tuple[FakeSocket, Connection, Stats]:
    """A connection (of the zoo variant ``bug``'s class, if named) that has answered one request (on the
    slow path: it was fresh) and waits for more."""
    sock = FakeSocket([GET])
    conn, stats = make(sock, edge=edge, cls=Connection if bug is None else zoo.connection_class(bug))
    assert conn.handle_event(EPOLLIN, 1.0) is False  # a fresh connection takes the slow path
    assert bytes(sock.sent) == HELLO_RESPONSE
    sock.sent.clear()
    sock.recv_calls = sock.send_calls = 0
    conn.timer_at = conn.deadline  # as the loop's timer wheel does
    return sock, conn, stats


def test_a_quiet_keep_alive_request_takes_one_recv_one_send_and_changes_nothing_for_the_loop() -> None:
    sock, conn, stats = quiet_after_one_request()
    mask, timer_at = conn.mask, conn.timer_at
    sock.incoming.append(GET)
    assert conn.handle_event(EPOLLIN, 2.0) is True
    assert bytes(sock.sent) == HELLO_RESPONSE
    assert (sock.recv_calls, sock.send_calls) == (1, 1)
    assert conn.mask == mask == EPOLLIN | EPOLLRDHUP
    assert conn.timer_at == timer_at  # the timer entry is untouched; the deadline only moved later
    assert conn.deadline == 2.0 + 5.0
    assert stats.requests == 2
    assert stats.bytes_in == 2 * len(GET)


def test_edge_mode_takes_the_fast_path_too() -> None:
    sock, conn, _ = quiet_after_one_request(edge=True)
    conn.can_recv = True  # as if a read budget had run out: the short read below ends that too
    sock.incoming.append(GET)
    assert conn.handle_event(EPOLLIN, 2.0) is True
    assert bytes(sock.sent) == HELLO_RESPONSE
    assert conn.mask == EPOLLIN | EPOLLRDHUP | EPOLLET
    assert not conn.needs_another_turn()


def test_pipelined_requests_in_one_read_go_to_the_slow_path_and_are_all_answered() -> None:
    sock, conn, _ = quiet_after_one_request()
    sock.incoming.append(GET * 3)
    assert conn.handle_event(EPOLLIN, 2.0) is False
    assert bytes(sock.sent) == HELLO_RESPONSE * 3


def test_a_head_split_over_reads_is_joined_by_the_slow_path() -> None:
    sock, conn, _ = quiet_after_one_request()
    sock.incoming.append(GET[:10])
    assert conn.handle_event(EPOLLIN, 2.0) is False
    assert sock.sent == b""
    sock.incoming.append(GET[10:])
    assert conn.handle_event(EPOLLIN, 2.1) is False  # not quiet: half a request is buffered
    assert bytes(sock.sent) == HELLO_RESPONSE


def test_connection_close_is_answered_then_the_connection_closes() -> None:
    sock, conn, _ = quiet_after_one_request()
    sock.incoming.extend([b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", b""])
    assert conn.handle_event(EPOLLIN, 2.0) is False
    status, headers, _body = responses(bytes(sock.sent))[0]
    assert (status, headers["connection"]) == (200, "close")
    assert sock.shut_wr or conn.close_reason is not None


def test_a_body_or_an_invalid_head_takes_the_slow_path() -> None:
    sock, conn, _ = quiet_after_one_request()
    sock.incoming.append(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
    assert conn.handle_event(EPOLLIN, 2.0) is False
    assert responses(bytes(sock.sent))[0][2] == b"hi"
    sock.sent.clear()
    sock.incoming.append(b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n")
    assert conn.handle_event(EPOLLIN, 2.1) is False
    assert responses(bytes(sock.sent))[0][0] == 400


def test_a_partial_send_leaves_the_rest_for_epollout() -> None:
    sock, conn, _ = quiet_after_one_request()
    sock.incoming.append(GET)
    sock.send_script.append(7)
    assert conn.handle_event(EPOLLIN, 2.0) is False  # the loop must register EPOLLOUT
    assert conn.mask & EPOLLOUT
    assert conn.deadline == 2.0 + 5.0  # the write timeout
    sock.send_limit = None
    conn.handle_event(EPOLLOUT, 2.1)
    assert bytes(sock.sent) == HELLO_RESPONSE
    assert not conn.mask & EPOLLOUT


def test_eagain_on_send_keeps_the_whole_response() -> None:
    sock, conn, _ = quiet_after_one_request()
    sock.incoming.append(GET)
    sock.send_script.append(EAGAIN)
    assert conn.handle_event(EPOLLIN, 2.0) is False
    assert conn.mask & EPOLLOUT and conn.output_buffered == len(HELLO_RESPONSE)
    conn.handle_event(EPOLLOUT, 2.1)
    assert bytes(sock.sent) == HELLO_RESPONSE


def test_a_spurious_wakeup_and_a_reset_on_the_fast_path() -> None:
    sock, conn, _ = quiet_after_one_request()
    assert conn.handle_event(EPOLLIN, 2.0) is True  # EAGAIN: nothing changed
    sock.incoming.append(ConnectionResetError(errno.ECONNRESET, "reset"))
    conn.handle_event(EPOLLIN, 2.1)
    assert conn.close_reason == "reset"


def test_end_of_input_on_the_fast_path_closes_cleanly() -> None:
    sock, conn, _ = quiet_after_one_request()
    sock.incoming.append(b"")
    assert conn.handle_event(EPOLLIN, 2.0) is False
    assert conn.close_reason == "eof"


def test_a_graceful_stop_is_not_bypassed() -> None:
    sock, conn, _ = quiet_after_one_request()
    sock.incoming.append(GET[:5])  # a request in flight when the stop comes
    conn.handle_event(EPOLLIN, 2.0)
    conn.begin_shutdown(2.0)
    sock.incoming.append(GET[5:])
    conn.handle_event(EPOLLIN, 2.1)
    status, headers, _body = responses(bytes(sock.sent))[0]
    assert (status, headers["connection"]) == (200, "close")


def test_a_zoo_variant_takes_the_fast_path_with_its_mistake() -> None:
    sock, conn, _ = quiet_after_one_request(bug="ignore_send_count")
    sock.incoming.append(GET)
    sock.send_script.append(7)
    assert conn.handle_event(EPOLLIN, 2.0) is True  # answered on the fast path: nothing for the loop to do
    assert (sock.recv_calls, sock.send_calls) == (1, 1)
    assert conn.output_buffered == 0 and bytes(sock.sent) == HELLO_RESPONSE[:7]  # it believes all was sent


def test_an_idle_keep_alive_connection_holds_no_parser_no_rare_state_and_no_buffer() -> None:
    sock, conn, _ = quiet_after_one_request()
    # A body: the slow path, and the rare state.
    sock.incoming.append(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
    conn.handle_event(EPOLLIN, 2.0)
    for c in (conn, quiet_after_one_request()[1]):
        assert c._parser is None
        assert c.output_buffered == 0
    assert quiet_after_one_request()[1]._rare is None  # only what most connections never set goes there


def test_rare_state_is_made_on_the_first_unusual_write_and_read_back() -> None:
    _sock, conn, _ = quiet_after_one_request()
    assert conn.peer == "" and conn._rare is None
    conn.peer = ""  # writing the default makes none
    assert conn._rare is None
    conn.peer = "10.0.0.1:5"
    assert conn._rare is not None and conn.peer == "10.0.0.1:5"
