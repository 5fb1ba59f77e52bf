"""The fast path meets the RFC 9112 rules and the bug zoo: the slow path's answers, and every variant takes it."""

from __future__ import annotations

import pytest

from server import bugs as zoo
from server.bugs import BUGS, HeadFirstParser, HostBlindParser, RescanningParser
from server.connection import EPOLLIN, Connection, Settings
from server.http import response
from server.http.parser import Limits, RequestParser
from server.routes import Router
from server.stats import Stats
from tests.server.test_server_connection import DATE, GET, HELLO_RESPONSE, FakeSocket
from tests.server.test_server_fast_path import quiet_after_one_request


def status_of(sent: bytes) -> int:
    return int(sent.split(b" ", 2)[1])


@pytest.mark.parametrize("request_bytes", [
    b"GET /?x=1 HTTP/1.1\r\nHost: t\r\n\r\n",  # a query string routes on the path
    b"GET http://t/ HTTP/1.1\r\nHost: t\r\n\r\n",  # absolute-form: routed on its path
    b"GET http://t HTTP/1.1\r\nHost: t\r\n\r\n",  # absolute-form without a path is /
    b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",  # the full uri-host grammar
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",  # 1.0 needs no Host
])
def test_valid_forms_are_answered_on_the_fast_path(request_bytes: bytes) -> None:
    sock, conn, _ = quiet_after_one_request()
    sock.incoming.append(request_bytes)
    assert conn.handle_event(EPOLLIN, 2.0) is True
    assert status_of(bytes(sock.sent)) == 200
    assert bytes(sock.sent).endswith(b"hello, epoll\n")


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),  # two Hosts
    (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),  # an invalid Host
    (b"GET http://a b/ HTTP/1.1\r\nHost: t\r\n\r\n", 400),  # an invalid authority in the target
    (b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),  # Transfer-Encoding in 1.0
    (b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),  # chunked not final
])
def test_rfc_violations_meet_the_same_error_on_the_fast_path(request_bytes: bytes, status: int) -> None:
    sock, conn, stats = quiet_after_one_request()
    sock.incoming.append(request_bytes)
    assert conn.handle_event(EPOLLIN, 2.0) is False  # handed to the slow path, which answers and closes
    assert status_of(bytes(sock.sent)) == status
    assert stats.parse_errors == 1
    assert sock.shut_wr or conn.close_reason is not None


def test_an_error_answer_to_head_has_no_body_on_the_fast_path_too() -> None:
    sock, conn, _ = quiet_after_one_request()
    sock.incoming.append(b"HEAD / HTTP/1.1\r\nHost: a b\r\n\r\n")
    assert conn.handle_event(EPOLLIN, 2.0) is False
    assert bytes(sock.sent) == response.error(400, DATE.value, True)


@pytest.mark.parametrize("name", sorted(BUGS))
def test_every_zoo_variant_takes_the_fast_path(name: str) -> None:
    sock, conn, _ = quiet_after_one_request(bug=name)
    assert conn._quiet  # a quiet keep-alive connection: its next EPOLLIN goes to _quick, as the clean one's
    sock.incoming.append(GET)
    conn.handle_event(EPOLLIN, 2.0)
    assert (sock.recv_calls, sock.send_calls) == (1, 1) and bytes(sock.sent) == HELLO_RESPONSE


def variant_connection(name: str, sock: FakeSocket, now: float = 0.0) -> Connection:
    stats = Stats("level", None)
    settings = Settings(header_timeout=2.0, idle_timeout=5.0, write_timeout=5.0, date=DATE)
    return zoo.connection_class(name)(sock, settings, Router(stats.to_json, DATE), stats, now)


@pytest.mark.parametrize(("name", "parser_class"), [
    (None, RequestParser), ("unbounded_headers", RescanningParser), ("no_host_check", HostBlindParser),
    ("transient_peak", HeadFirstParser),
])
def test_the_parser_made_on_demand_is_the_variants_own(name: str | None, parser_class: type) -> None:
    sock = FakeSocket([GET, GET[:5]])
    stats = Stats("level", None)
    settings = Settings(limits=Limits(), date=DATE)
    cls = Connection if name is None else zoo.connection_class(name)
    conn = cls(sock, settings, Router(stats.to_json, DATE), stats, 0.0)
    conn.handle_event(EPOLLIN, 1.0)
    parser = conn._parser
    assert type(parser) is parser_class  # half a request is buffered in it
    assert parser is not None and (parser.limits.max_header_bytes > 1 << 60) == (name == "unbounded_headers")


def test_no_host_check_still_serves_a_request_without_host_after_its_parser_was_dropped() -> None:
    sock = FakeSocket([GET])
    conn = variant_connection("no_host_check", sock)
    conn.handle_event(EPOLLIN, 1.0)
    assert conn._parser is None  # answered: dropped, so the next one is made on demand
    sock.sent.clear()
    sock.incoming.append(b"GET / HTTP/1.1\r\n\r\n")
    conn.handle_event(EPOLLIN, 2.0)
    assert bytes(sock.sent) == HELLO_RESPONSE  # the variant's mistake: no 400


def test_idle_from_accept_counts_from_accept_without_an_event_log() -> None:
    sock = FakeSocket([GET])
    conn = variant_connection("idle_from_accept", sock, now=100.0)
    conn.handle_event(EPOLLIN, 103.0)
    assert conn.deadline == 100.0 + 5.0  # not 0 + 5 (opened_at is set only when logging otherwise)
    clean, _stats = quiet_after_one_request()[1:]
    assert clean._rare is None  # the clean server still keeps no opened_at without a log


def test_the_body_is_one_buffer_in_the_rare_state() -> None:
    sock, conn, _ = quiet_after_one_request()
    sock.incoming.append(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n")
    conn.handle_event(EPOLLIN, 2.0)
    assert conn._rare is not None and type(conn._rare.body) is bytearray and conn._rare.body == b"hi"
    sock.incoming.append(b"1\r\n!\r\n0\r\n\r\n")
    conn.handle_event(EPOLLIN, 2.1)
    assert bytes(sock.sent).endswith(b"\r\n\r\nhi!")
    assert conn._rare.body is None
