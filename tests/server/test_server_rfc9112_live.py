"""RFC 9112 at MUST level, against the real server in both trigger modes: raw bytes over a socket.

Each test here failed on the server before issue 10's fixes (checked by running it against that code).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.live_server import (
    FAST,
    Reader,
    ServerProcess,
    connect,
    expected_bytes,
    reset,
    wait_until,
)

HELLO = b"hello, epoll\n"


@pytest.fixture(params=["level", "edge"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path / "server", "--trigger", str(request.param), *FAST) as srv:
        yield srv


def answer_then_close(server: ServerProcess, raw: bytes) -> tuple[int, dict[str, str], bytes, bytes]:
    """The one response to ``raw``, and whatever came after it before the server closed."""
    with connect(server.address) as sock:
        sock.sendall(raw)
        reader = Reader(sock)
        status, headers, body = reader.response()
        return status, headers, body, reader.until_eof()


@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a:port\r\n\r\n",
    ],
    ids=["missing", "duplicate", "space", "userinfo", "slash", "bad port"],
)
def test_http11_host_missing_duplicated_or_invalid_is_400_and_close(server: ServerProcess, raw: bytes) -> None:
    status, headers, _, rest = answer_then_close(server, raw)
    assert (status, headers.get("connection"), rest) == (400, "close", b"")


def test_http10_without_host_is_served(server: ServerProcess) -> None:
    status, _, body, _ = answer_then_close(server, b"GET / HTTP/1.0\r\n\r\n")
    assert (status, body) == (200, HELLO)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
         b"3\r\nabc\r\n0\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\nabc", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ],
    ids=["http10 chunked", "chunked then identity", "identity", "gzip then chunked"],
)
def test_transfer_encoding_rules_answer_and_close(server: ServerProcess, raw: bytes, status: int) -> None:
    got, headers, _, rest = answer_then_close(server, raw)
    assert (got, headers.get("connection"), rest) == (status, "close", b"")


def test_head_with_a_malformed_field_gets_only_a_head(server: ServerProcess) -> None:
    with connect(server.address) as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: t\r\nBad Field\r\n\r\n")
        data = Reader(sock).until_eof()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"Content-Length: " in head
    assert body == b""


def test_head_of_a_missing_path_keeps_the_connection_in_step(server: ServerProcess) -> None:
    with connect(server.address) as sock:
        sock.sendall(b"HEAD /nowhere HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = Reader(sock).until_eof()
    first, _, rest = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 404 ")
    assert rest.startswith(b"HTTP/1.1 200 ") and rest.endswith(HELLO)


@pytest.mark.parametrize(
    ("target", "body"),
    [("http://t/", HELLO), ("http://127.0.0.1:8080/bytes/300?x=1", expected_bytes(300)), ("/?x=1", HELLO),
     ("/bytes/10?x", expected_bytes(10))],
    ids=["absolute-form", "absolute-form with port and query", "root with query", "bytes with query"],
)
def test_absolute_form_and_query_strings_route_on_the_path(server: ServerProcess, target: str, body: bytes) -> None:
    raw = f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()
    status, _, got, _ = answer_then_close(server, raw)
    assert (status, got) == (200, body)


def _kib(server: ServerProcess, field: str) -> int:
    with open(f"/proc/{server.pid}/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def test_a_chunked_body_of_tiny_chunks_costs_about_its_size(server: ServerProcess) -> None:
    size = 2_000_000
    body = expected_bytes(size)
    chunks = b"".join(b"2\r\n" + body[i : i + 2] + b"\r\n" for i in range(0, size, 2))
    before = _kib(server, "VmRSS")
    with connect(server.address, timeout=60) as sock:  # 7 MB of framing: slow on a busy machine
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
        status, _, got = Reader(sock).response(timeout=60)
    peak = _kib(server, "VmHWM")  # the most the server held at once, the body's whole life included
    assert (status, got) == (200, body)
    # One buffer for the body, its copy for the reply and the reply itself: ~3x, plus reads and slack.
    # A list of 1,000,000 two-byte bytes objects would be ~50 MB.
    assert peak - before < 3 * size + (6 << 20), f"RSS {before >> 20} MiB -> peak {peak >> 20} MiB"


def test_level_mode_reset_behind_pipelined_input_is_counted_as_reset(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "server", "--trigger", "level", *FAST, "--write-timeout", "5") as server:
        sock = connect(server.address)
        # Enough pipelined requests for large responses that the server stops reading (output backlog)
        # with requests still unread in its receive queue: the reset hides behind them.
        sock.sendall(b"GET /bytes/100000 HTTP/1.1\r\nHost: t\r\n\r\n" * 3000)
        wait_until(lambda: (row := server.server_side(sock)) is not None and row[3] > 0 and row[4] > 0,
                   "output queued and requests unread")
        reset(sock)
        closed = wait_until(lambda: (c := server.stats()["closed"])["reset"] + c["error"] >= 1 and c, "the close")
        assert (closed["reset"], closed["error"]) == (1, 0)
