"""RequestParser.quick and its memo of head tails: the same verdict as the full rules, with or without the memo."""

from __future__ import annotations

import pytest

from server.bugs import HostBlindParser
from server.http.parser import MAX_KNOWN_TAILS, MAX_TAIL_BYTES, Limits, ProtocolError, Request, RequestParser
from tests.server.test_server_parser_common_head import HEADS

TAIL = b"HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"


def full(head: bytes) -> Request | None:
    """What quick must give: the slow path's request when it is one whole request without a body."""
    p = RequestParser()
    p.receive_data(head)
    try:
        event = p.next_event()
    except ProtocolError:
        return None
    if not isinstance(event, Request) or event.content_length != 0 or p.buffered:
        return None
    return event


def quick(p: RequestParser, head: bytes) -> Request | None:
    result = p.quick(head)
    assert p.at_rest  # idle and empty again, whatever the head
    return result


MORE_HEADS = [
    b"GET /?n=1 " + TAIL,
    b"GET /a%20b?x=y&z " + TAIL,
    b"OPTIONS * " + TAIL,  # asterisk-form: never from the memo
    b"GET http://h:1/p " + TAIL,  # absolute-form: its authority replaces Host
    b"GET http://h " + TAIL,
    b"BREW / " + TAIL,  # an unknown method: 501 on the slow path
    b"get / " + TAIL,  # methods are case-sensitive
    b"GET /\x7f " + TAIL,  # a control byte in the target
    b"GET /\x80 " + TAIL,  # not ASCII
    b"GET  / " + TAIL,  # two spaces
    b"GET / /x " + TAIL,  # three parts to the request line
    b" GET / " + TAIL,
    b"GET " + TAIL,  # no target
    b"GET / " + TAIL + b"GET / " + TAIL,  # two requests
    b"GET / " + TAIL[:-2],  # half a request
    b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi",  # a body
    b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
]


@pytest.mark.parametrize("head", HEADS + MORE_HEADS)
def test_quick_gives_what_the_full_rules_give_before_and_after_the_tail_is_known(head: bytes) -> None:
    p = RequestParser()
    # Teach the memo every valid tail first (the tail of this head too, when valid), then ask.
    for known in [b"GET / " + TAIL, b"GET / HTTP/1.0\r\n\r\n", *HEADS, *MORE_HEADS]:
        p.quick(known)
    assert p._tails  # the memo is in use
    expected = full(head)
    for _ in range(2):
        assert quick(p, head) == expected
        assert quick(RequestParser(), head) == expected


@pytest.mark.parametrize("head", [
    b"BREW /x " + TAIL,
    b"GET http://a b/ " + TAIL,
    b"GET /\x00 " + TAIL,
    b"GET /\t " + TAIL,
    b"GET \xff " + TAIL,
    b"GET x " + TAIL,
    b"CONNECT h:443 " + TAIL,
])
def test_a_known_tail_does_not_excuse_the_method_or_the_target(head: bytes) -> None:
    p = RequestParser()
    assert isinstance(p.quick(b"GET / " + TAIL), Request)
    assert TAIL in p._tails
    assert quick(p, head) == full(head)


def test_the_memo_holds_only_tails_of_valid_origin_form_requests_without_a_body() -> None:
    p = RequestParser()
    for head in HEADS + MORE_HEADS:
        p.quick(head)
    for tail, (version, keep_alive, host, _at, _end) in p._tails.items():
        head = b"GET / " + tail
        request = full(head)
        assert request is not None, head
        assert (request.version, request.keep_alive, request.host) == (version, keep_alive, host)
    assert b"HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi" not in p._tails
    assert not any(b"Host: a b" in tail for tail in p._tails)


def test_the_memo_is_bounded_in_entries_and_tail_size() -> None:
    p = RequestParser()
    for i in range(MAX_KNOWN_TAILS * 2 + 5):
        assert isinstance(p.quick(b"GET / HTTP/1.1\r\nHost: h%d\r\n\r\n" % i), Request)
        assert 0 < len(p._tails) <= MAX_KNOWN_TAILS
    p._tails.clear()
    long_tail = b"HTTP/1.1\r\nHost: t\r\nX: " + b"a" * MAX_TAIL_BYTES + b"\r\n\r\n"
    assert isinstance(p.quick(b"GET / " + long_tail), Request)
    assert p._tails == {}


def test_the_size_limit_holds_for_a_known_tail() -> None:
    p = RequestParser(Limits(max_request_line=64, max_header_bytes=64))
    assert isinstance(p.quick(b"GET / " + TAIL), Request)
    long_target = b"/" + b"a" * 64
    assert p.quick(b"GET " + long_target + b" " + TAIL) is None


def test_a_variant_parser_keeps_its_verdicts_to_itself() -> None:
    blind = HostBlindParser()
    bad = b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"
    assert isinstance(blind.quick(bad), Request)  # the variant's mistake
    p = RequestParser()
    assert p.quick(bad) is None
    assert p._tails == {}


def test_headers_of_a_request_from_the_memo_are_its_own() -> None:
    p = RequestParser()
    p.quick(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n\r\n")
    request = p.quick(b"GET /longer/target?q=1 HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n\r\n")
    assert request is not None and request.target == "/longer/target?q=1"
    assert request.headers == [(b"host", b"t"), (b"x-a", b"1")]


def test_a_request_from_the_memo_has_every_field_set() -> None:
    p = RequestParser()
    p.quick(b"GET / " + TAIL)
    request = p.quick(b"HEAD /x " + TAIL)
    assert request is not None
    assert all(hasattr(request, name) for name in Request.__slots__)
    assert request == full(b"HEAD /x " + TAIL)
