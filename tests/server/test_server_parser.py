"""The sans-I/O request parser: every case fed whole, byte by byte, and with trailing bytes."""

from __future__ import annotations

import random

import pytest

from server.bugs import RescanningParser
from server.http.parser import (
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    IncompleteMessage,
    Limits,
    ProtocolError,
    Request,
    RequestParser,
)

LIMITS = Limits(max_request_line=200, max_header_bytes=400, max_body_bytes=1000)


def parse(chunks: list[bytes], limits: Limits = LIMITS, eof: bool = True) -> list[Event]:
    """Feed ``chunks`` (then end of input), collecting events with adjacent Data merged."""
    parser = RequestParser(limits)
    events: list[Event] = []

    def drain() -> None:
        while (event := parser.next_event()) is not None:
            if isinstance(event, Data) and events and isinstance(events[-1], Data):
                events[-1] = Data(events[-1].data + event.data)
            else:
                events.append(event)
            if isinstance(event, ConnectionClosed):
                return

    for chunk in chunks:
        parser.receive_data(chunk)
        drain()
    if eof:
        parser.receive_data(b"")
        drain()
    return events


def whole(data: bytes) -> list[bytes]:
    return [data]


def byte_by_byte(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


FEEDS = [whole, byte_by_byte]


def req(
    method: str = "GET",
    target: str = "/",
    version: str = "1.1",
    headers: list[tuple[bytes, bytes]] | None = None,
    keep_alive: bool = True,
    content_length: int | None = 0,
    expect_continue: bool = False,
) -> Request:
    """The expected Request; an HTTP/1.1 one carries the ``Host: t`` every such request must have."""
    fields = headers or []
    host = next((value for name, value in fields if name == b"host"), None)
    if version == "1.1" and host is None:
        fields = [(b"host", b"t"), *fields]
        host = b"t"
    return Request(method, target, version, fields, keep_alive, content_length, expect_continue,
                   host=None if host is None else host.decode())


VALID: list[tuple[str, bytes, list[Event]]] = [
    ("minimal", b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", [req(), EndOfMessage()]),
    (
        "headers",
        b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Thing:  padded value \t\r\n\r\n",
        [req(target="/a?b=c", headers=[(b"host", b"x"), (b"x-thing", b"padded value")]), EndOfMessage()],
    ),
    ("bare LF line endings", b"GET / HTTP/1.1\nHost: x\n\n", [req(headers=[(b"host", b"x")]), EndOfMessage()]),
    ("leading empty lines", b"\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n", [req(), EndOfMessage()]),
    ("empty header value", b"GET / HTTP/1.1\r\nHost: t\r\n"
     b"X-Empty:\r\n\r\n", [req(headers=[(b"x-empty", b"")]), EndOfMessage()]),
    ("obs-text in a value", b"GET / HTTP/1.1\r\nHost: t\r\nX: caf\xc3\xa9\xff\r\n\r\n",
     [req(headers=[(b"x", b"caf\xc3\xa9\xff")]), EndOfMessage()]),
    (
        "content-length body",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        [req("POST", "/echo", headers=[(b"content-length", b"5")], content_length=5), Data(b"hello"),
         EndOfMessage()],
    ),
    (
        "repeated equal content-length",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
        [req("POST", headers=[(b"content-length", b"2")] * 2, content_length=2), Data(b"ok"), EndOfMessage()],
    ),
    (
        "chunked body with extensions and trailers",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n",
        [req("POST", headers=[(b"transfer-encoding", b"chunked")], content_length=None),
         Data(b"hello 0123456789"), EndOfMessage()],
    ),
    (
        "http/1.0 closes by default",
        b"GET / HTTP/1.0\r\n\r\n",
        [req(version="1.0", keep_alive=False), EndOfMessage()],
    ),
    (
        "http/1.0 keep-alive",
        b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
        [req(version="1.0", headers=[(b"connection", b"Keep-Alive")]), EndOfMessage()],
    ),
    (
        "http/1.1 connection close",
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: foo, close\r\n\r\n",
        [req(headers=[(b"connection", b"foo, close")], keep_alive=False), EndOfMessage()],
    ),
    (
        "expect 100-continue",
        b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
        [req("POST", headers=[(b"expect", b"100-continue"), (b"content-length", b"1")], content_length=1,
             expect_continue=True), Data(b"x"), EndOfMessage()],
    ),
    (
        "chunked with bare LF, upper-case hex and padding",
        b"POST / HTTP/1.1\nHost: t\nTransfer-Encoding: Chunked\n\nA  \n0123456789\n0\n\n",
        [req("POST", headers=[(b"transfer-encoding", b"Chunked")], content_length=None), Data(b"0123456789"),
         EndOfMessage()],
    ),
    (
        "empty chunked body",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        [req("POST", headers=[(b"transfer-encoding", b"chunked")], content_length=None), EndOfMessage()],
    ),
    (
        "http/1.0 keep-alive then close",
        b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
        [req(version="1.0", headers=[(b"connection", b"keep-alive, close")], keep_alive=False), EndOfMessage()],
    ),
    (
        "pipelined",
        b"GET /1 HTTP/1.1\r\nHost: t\r\n"
         b"\r\nPOST /2 HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nxGET /3 HTTP/1.1\r\nHost: t\r\n\r\n",
        [req(target="/1"), EndOfMessage(),
         req("POST", "/2", headers=[(b"content-length", b"1")], content_length=1), Data(b"x"), EndOfMessage(),
         req(target="/3"), EndOfMessage()],
    ),
    # RFC 9112 3.2: HTTP/1.0 may omit Host; valid uri-host[:port] forms; an empty Host (no authority).
    ("http/1.0 without host", b"GET / HTTP/1.0\r\n\r\n", [req(version="1.0", keep_alive=False), EndOfMessage()]),
    ("host with a port", b"GET / HTTP/1.1\r\nHost: a.b-c:8080\r\n\r\n",
     [req(headers=[(b"host", b"a.b-c:8080")]), EndOfMessage()]),
    ("host as an ipv6 literal", b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
     [req(headers=[(b"host", b"[::1]:80")]), EndOfMessage()]),
    ("empty host", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", [req(headers=[(b"host", b"")]), EndOfMessage()]),
    ("host after other fields", b"GET / HTTP/1.1\r\nX: y\r\nhOsT: h%41\r\n\r\n",
     [req(headers=[(b"x", b"y"), (b"host", b"h%41")]), EndOfMessage()]),
    # RFC 9112 3.2.2: an absolute-form target is routed on its path; its authority replaces Host.
    ("absolute-form", b"GET http://a:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n",
     [Request("GET", "/p?q=1", "1.1", [(b"host", b"other")], True, 0, False, host="a:8080"), EndOfMessage()]),
    ("absolute-form without a path", b"GET HTTPS://a HTTP/1.1\r\nHost: a\r\n\r\n",
     [Request("GET", "/", "1.1", [(b"host", b"a")], True, 0, False, host="a"), EndOfMessage()]),
    ("absolute-form with only a query", b"GET http://a?x HTTP/1.1\r\nHost: a\r\n\r\n",
     [Request("GET", "/?x", "1.1", [(b"host", b"a")], True, 0, False, host="a"), EndOfMessage()]),
    ("transfer-coding list with empty elements", b"POST / HTTP/1.1\r\nHost: t\r\n"
     b"Transfer-Encoding: , chunked ,\r\n\r\n0\r\n\r\n",
     [req("POST", headers=[(b"transfer-encoding", b", chunked ,")], content_length=None), EndOfMessage()]),
]


@pytest.mark.parametrize("feed", FEEDS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in VALID], ids=[c[0] for c in VALID])
def test_valid_requests(data: bytes, expected: list[Event], feed: object) -> None:
    assert callable(feed)
    assert parse(feed(data)) == [*expected, ConnectionClosed()]


@pytest.mark.parametrize("feed", FEEDS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in VALID], ids=[c[0] for c in VALID])
def test_valid_requests_with_trailing_bytes(data: bytes, expected: list[Event], feed: object) -> None:
    """A following partial request does not change the events; at end of input it is incomplete."""
    assert callable(feed)
    parser = RequestParser(LIMITS)
    events: list[Event] = []
    for chunk in feed(data + b"GET /next HT"):
        parser.receive_data(chunk)
        while (event := parser.next_event()) is not None:
            if isinstance(event, Data) and events and isinstance(events[-1], Data):
                events[-1] = Data(events[-1].data + event.data)
            else:
                events.append(event)
    assert events == expected
    assert parser.in_progress
    parser.receive_data(b"")
    with pytest.raises(IncompleteMessage):
        parser.next_event()


INVALID: list[tuple[str, bytes, int]] = [
    ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    ("no version", b"GET /\r\n\r\n", 400),
    ("lowercase version", b"GET / http/1.1\r\n\r\n", 400),
    ("extra space", b"GET  / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("non-ascii target", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("non-utf8 target", b"GET /\xff\xfe HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("bad method token", b"G(T / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("unknown method", b"BREW / HTTP/1.1\r\nHost: t\r\n\r\n", 501),
    ("http/2.0", b"GET / HTTP/2.0\r\n\r\n", 505),
    ("http/0.9 style", b"GET / HTTP/0.9\r\n\r\n", 505),
    ("header without colon", b"GET / HTTP/1.1\r\nHost: t\r\nHost x\r\n\r\n", 400),
    ("space before colon", b"GET / HTTP/1.1\r\nHost: t\r\nHost : x\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400),
    ("NUL in value", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n", 400),
    ("CR in value", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", 400),
    ("request line too long", b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    ("request line too long, unterminated", b"GET /" + b"a" * 300, 414),
    ("headers too large", b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X: " + b"v" * 500 + b"\r\n\r\n", 431),
    ("headers too large, unterminated", b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X: v\r\n" * 100, 431),
    ("body too large", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n", 413),
    ("chunked body too large", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3E9\r\n", 413),
    ("content-length and transfer-encoding",
     b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("transfer-encoding and content-length",
     b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400),
    ("different content-lengths", b"POST / HTTP/1.1\r\nHost: t\r\n"
     b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    ("content-length list", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
    ("negative content-length", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400),
    ("plus content-length", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +1\r\n\r\nx", 400),
    # RFC 9112 6.3: a final coding other than chunked leaves the length unknown: 400 (and close).
    ("gzip transfer-encoding", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    ("chunked twice", b"POST / HTTP/1.1\r\nHost: t\r\n"
     b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("bad chunk size", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ("missing chunk CRLF", b"POST / HTTP/1.1\r\nHost: t\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n", 400),
    ("unknown expectation", b"GET / HTTP/1.1\r\nHost: t\r\nExpect: tea\r\n\r\n", 417),
    ("chunk size overflow", b"POST / HTTP/1.1\r\nHost: t\r\n"
     b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400),
    ("chunked then gzip", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
    ("chunked, identity", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400),
    ("identity", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\n", 400),
    ("empty transfer-encoding", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: \r\n\r\n", 400),
    ("gzip then chunked", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    ("gzip then chunked in two fields",
     b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    # RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 is faulty framing: 400 and close (as nginx).
    ("http/1.0 chunked", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    # Found by the fuzzer (tests/server/fuzz_parser.py): the status must not depend on how input is split.
    ("long request line with its line end", b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nX", 414),
    ("malformed fields exactly at the header limit",
     b"GET / HTTP/1.1\r\nHost: t\r\nBad" + b"x" * (400 - 9 - 3 - 2) + b"\r\n\r\n", 400),
    # RFC 9112 3.2: Host is required in HTTP/1.1, once, and must be a valid uri-host[:port].
    ("no host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("no host, other fields", b"GET / HTTP/1.1\r\nX-Host: t\r\nHostname: t\r\n\r\n", 400),
    ("two hosts", b"GET / HTTP/1.1\r\nHost: t\r\nHost: t\r\n\r\n", 400),
    ("two hosts in http/1.0", b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400),
    ("host with a space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("host with userinfo", b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400),
    ("host with a path", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    ("host with a bad port", b"GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", 400),
    ("host with two ports", b"GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", 400),
    ("host with a long port", b"GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n", 400),
    ("host with a bad ipv6 literal", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
    ("host with a bad percent escape", b"GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400),
    ("absolute-form with userinfo", b"GET http://u@a/ HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("absolute-form with a bad port", b"GET http://a:x/ HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("space in header name", b"GET / HTTP/1.1\r\nHost: t\r\nX Y: z\r\n\r\n", 400),
    ("empty header name", b"GET / HTTP/1.1\r\nHost: t\r\n: z\r\n\r\n", 400),
    ("too many blank lines", b"\r\n" * 20 + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
]


@pytest.mark.parametrize("feed", FEEDS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("data", "status"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_requests(data: bytes, status: int, feed: object) -> None:
    assert callable(feed)
    with pytest.raises(ProtocolError) as info:
        parse(feed(data))
    assert info.value.status == status
    assert not isinstance(info.value, IncompleteMessage)


@pytest.mark.parametrize("feed", FEEDS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("data", "status"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_requests_with_trailing_bytes(data: bytes, status: int, feed: object) -> None:
    """A valid request after the bad one changes nothing: the error comes first and sticks."""
    assert callable(feed)
    with pytest.raises(ProtocolError) as info:
        parse(feed(data + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"), eof=False)
    assert info.value.status == status
    assert not isinstance(info.value, IncompleteMessage)


def test_error_is_sticky() -> None:
    parser = RequestParser(LIMITS)
    parser.receive_data(b"BAD\r\n\r\n")
    for _ in range(2):
        with pytest.raises(ProtocolError):
            parser.next_event()


@pytest.mark.parametrize(
    "data",
    [b"GET / HTTP/1.1\r\nHost: x\r\n", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab",
     b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", b"G", b"\r"],
)
def test_end_of_input_mid_request_is_incomplete(data: bytes) -> None:
    with pytest.raises(IncompleteMessage):
        parse([data])


def test_end_of_input_at_boundary_is_a_clean_close() -> None:
    assert parse([]) == [ConnectionClosed()]
    assert parse([b"\r\n"]) == [ConnectionClosed()]


def test_request_split_between_cr_and_lf() -> None:
    events = parse([b"GET / HTTP/1.1\r", b"\nHost: x\r\n\r", b"\n"])
    assert events == [req(headers=[(b"host", b"x")]), EndOfMessage(), ConnectionClosed()]


def test_receive_data_after_end_of_input_is_a_usage_error() -> None:
    parser = RequestParser()
    parser.receive_data(b"")
    with pytest.raises(RuntimeError):
        parser.receive_data(b"x")


@pytest.mark.parametrize("size", [2000, 20000])
def test_work_is_linear_in_input_byte_by_byte(size: int) -> None:
    """Searches resume where they stopped: a big head fed a byte at a time is scanned O(n) times."""
    head = b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"v" * size + b"\r\n\r\n"
    parser = RequestParser(Limits(max_header_bytes=size * 2))
    for i in range(len(head)):
        parser.receive_data(head[i : i + 1])
        event = parser.next_event()
    assert isinstance(event, Request)
    assert parser.scanned <= 3 * len(head)


def test_rescanning_variant_is_quadratic() -> None:
    """The bug-zoo parser rescans; the counter shows it, so the linear test above can fail."""
    head = b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"v" * 2000 + b"\r\n\r\n"
    parser = RescanningParser(Limits(max_header_bytes=10**9))
    for i in range(len(head)):
        parser.receive_data(head[i : i + 1])
        parser.next_event()
    assert parser.scanned > 100 * len(head)


def test_body_bytes_are_not_buffered() -> None:
    parser = RequestParser(Limits(max_body_bytes=1 << 30))
    parser.receive_data(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n")
    assert isinstance(parser.next_event(), Request)
    for _ in range(100):
        parser.receive_data(b"x" * 10000)
        event = parser.next_event()
        assert isinstance(event, Data)
        assert len(event.data) == 10000
        assert parser.buffered == 0
    assert isinstance(parser.next_event(), EndOfMessage)


# -- property tests: any split parses the same; no input raises anything but ProtocolError --


def random_request(rng: random.Random) -> bytes:
    method = rng.choice(["GET", "HEAD", "POST", "PUT", "DELETE"])
    target = "/" + "".join(rng.choice("abc/?=&%-_.") for _ in range(rng.randrange(12)))
    version = rng.choice(["1.1", "1.1", "1.0"])
    eol = rng.choice([b"\r\n", b"\r\n", b"\n"])
    lines = [f"{method} {target} HTTP/{version}".encode()]
    for i in range(rng.randrange(5)):
        lines.append(f"X-H{i}:{' ' * rng.randrange(3)}{'v' * rng.randrange(20)}".encode())
    if version == "1.0":
        lines.append(b"Connection: keep-alive")
    else:
        lines.insert(rng.randrange(1, len(lines) + 1), b"Host: " + rng.choice([b"t", b"t:80", b"[::1]:8", b""]))
    body = bytes(rng.randrange(256) for _ in range(rng.randrange(60)))
    kind = rng.choice(["none", "length", "chunked"] if version == "1.1" else ["none", "length"])
    if kind == "length" or (kind == "none" and body):
        lines.append(f"Content-Length: {len(body)}".encode())
        payload = body
    elif kind == "chunked":
        lines.append(b"Transfer-Encoding: chunked")
        payload = b""
        rest = body
        while rest:
            n = rng.randrange(1, len(rest) + 1)
            payload += f"{n:x}".encode() + eol + rest[:n] + eol
            rest = rest[n:]
        payload += b"0" + eol + eol
    else:
        payload = b""
    return eol.join(lines) + eol + eol + payload


def random_splits(rng: random.Random, data: bytes) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(data)), k=min(len(data) - 1, rng.randrange(1, 40))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def test_any_split_of_a_pipelined_stream_parses_the_same() -> None:
    rng = random.Random(1234)
    limits = Limits(max_request_line=4096, max_header_bytes=4096, max_body_bytes=1 << 20)
    for _ in range(300):
        stream = b"".join(random_request(rng) for _ in range(rng.randrange(1, 6)))
        expected = parse([stream], limits)
        assert isinstance(expected[-1], ConnectionClosed)
        assert parse(byte_by_byte(stream), limits) == expected
        for _ in range(5):
            assert parse(random_splits(rng, stream), limits) == expected


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        op = rng.randrange(4)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 1:
            buf[pos:pos] = rng.choice([b"\r", b"\n", b":", b" ", b"\x00", b"\xff", b"0", b"\r\n\r\n", b";"])
        elif op == 2:
            del buf[pos : pos + rng.randrange(1, 8)]
        else:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
    return bytes(buf)


def test_random_and_mutated_bytes_raise_only_protocol_errors() -> None:
    rng = random.Random(99)
    outcomes = {"ok": 0, "error": 0}
    for i in range(1500):
        if i % 3 == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
        else:
            data = mutate(rng, b"".join(random_request(rng) for _ in range(rng.randrange(1, 4))))
        chunks = random_splits(rng, data) if len(data) > 1 else [data]
        try:
            parse(chunks)
            outcomes["ok"] += 1
        except ProtocolError as err:
            assert 400 <= err.status <= 505
            outcomes["error"] += 1
    # Both outcomes occur, so the generator really exercises both paths.
    assert outcomes["ok"] > 50
    assert outcomes["error"] > 50


@pytest.mark.parametrize("feed", FEEDS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("data", "method"),
    [
        (b"HEAD / HTTP/1.1\r\nBad Field\r\n\r\n", "HEAD"),  # malformed field after a known request line
        (b"HEAD / HTTP/1.1\r\n\r\n", "HEAD"),  # no Host
        (b"HEAD / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n", "HEAD"),
        (b"GET / HTTP/1.1\r\n\r\n", "GET"),
        (b"NOPE / HTTP/1.1\r\n\r\n", None),
        (b"\x00\x01\r\n\r\n", None),
    ],
)
def test_a_protocol_error_says_the_method_when_it_was_known(data: bytes, method: str | None, feed: object) -> None:
    """The connection answers a HEAD request's error without a body (RFC 9110 9.3.2)."""
    with pytest.raises(ProtocolError) as info:
        parse(feed(data + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"), eof=False)  # type: ignore[operator]
    assert info.value.method == method


def test_the_method_of_an_earlier_request_does_not_stick() -> None:
    with pytest.raises(ProtocolError) as info:
        parse([b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n\x00garbage\r\n\r\n"], eof=False)
    assert info.value.method is None
