"""The parser's common-head branch and its memo of valid Host values: the same answers as the full rules."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from server.bugs import HostBlindParser
from server.http import parser
from server.http.parser import MAX_HOST_BYTES, MAX_VALID_HOSTS, ProtocolError, Request, RequestParser


@pytest.fixture(autouse=True)
def empty_host_memo() -> Iterator[None]:
    parser._VALID_HOSTS.clear()
    yield
    parser._VALID_HOSTS.clear()


def parse(head: bytes, cls: type[RequestParser] = RequestParser) -> Request | ProtocolError:
    p = cls()
    p.receive_data(head)
    try:
        event = p.next_event()
    except ProtocolError as err:
        return err
    assert isinstance(event, Request)
    return event


def framed(head: bytes) -> Request | ProtocolError:
    """The same head through the full rules only (``_framed_request``), for comparison."""
    match = parser._WHOLE_HEAD.match(head)
    assert match is not None
    p = RequestParser()
    try:
        return p._framed_request(match, head)
    except ProtocolError as err:
        err.method = p._method
        return err


HEADS = [
    b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET / HTTP/1.1\nhOsT:\t t:80 \t\n\n",  # any case, bare LF, blanks around the value
    b"GET /x?y HTTP/1.0\r\nHost: t\r\n\r\n",  # 1.0: not kept alive without Connection
    b"HEAD / HTTP/1.1\r\nX-Host: a\r\nHostname: b\r\nHost: c\r\n\r\n",  # only "Host:" counts
    b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: \r\n\r\n",  # empty: allowed
    b"GET / HTTP/1.1\r\nUser-Agent: Host: x\r\nHost: t\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n",
    b"GET http://a/b HTTP/1.1\r\nHost: t\r\n\r\n",
    # Each must be refused exactly as the full rules refuse it.
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: y\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: a\x80\r\n\r\n",  # the error answer to HEAD has no body: method known
    b"GET / HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nExpect: nothing\r\n\r\n",
    b"BREW / HTTP/1.1\r\nHost: t\r\n\r\n",
]


def outcome(result: Request | ProtocolError) -> object:
    if isinstance(result, ProtocolError):
        return (result.status, result.reason, result.method)
    return result


@pytest.mark.parametrize("head", HEADS)
def test_the_common_branch_gives_what_the_full_rules_give(head: bytes) -> None:
    for _ in range(2):  # and again with the Host value remembered
        assert outcome(parse(head)) == outcome(framed(head))


def test_an_invalid_host_is_never_remembered_and_is_refused_every_time() -> None:
    for _ in range(2):
        result = parse(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n")
        assert isinstance(result, ProtocolError) and result.status == 400
    assert parser._VALID_HOSTS == {}


def test_a_variant_that_skips_the_check_adds_nothing_to_the_memo() -> None:
    result = parse(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", HostBlindParser)
    assert isinstance(result, Request) and result.host == "a b"
    assert parser._VALID_HOSTS == {}
    assert isinstance(parse(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), ProtocolError)


def test_the_memo_is_bounded_in_entries_and_value_size() -> None:
    for i in range(MAX_VALID_HOSTS * 2 + 5):
        assert isinstance(parse(b"GET / HTTP/1.1\r\nHost: h%d\r\n\r\n" % i), Request)
        assert 0 < len(parser._VALID_HOSTS) <= MAX_VALID_HOSTS
    parser._VALID_HOSTS.clear()
    long_host = b"a" * (MAX_HOST_BYTES + 1)
    result = parse(b"GET / HTTP/1.1\r\nHost: " + long_host + b"\r\n\r\n")
    assert isinstance(result, Request) and result.host == long_host.decode()
    assert parser._VALID_HOSTS == {}


def test_only_values_that_match_the_host_grammar_are_in_the_memo() -> None:
    for head in HEADS:
        parse(head)
    assert parser._VALID_HOSTS
    for value in parser._VALID_HOSTS:
        assert parser._HOST.fullmatch(value) is not None and not re.search(rb"[ \t\r\n]", value)
