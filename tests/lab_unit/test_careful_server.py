"""The careful server (tests/fixtures/careful-server/): its parser's verdicts, and a few exchanges on a live one."""

from __future__ import annotations

import hashlib
import socket
import threading
import time

import pytest

from lab.chaos.run.runner import fresh_request_error
from tests.lab_unit import careful

cs = careful.module()


def head(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def test_a_request_head_is_parsed_with_its_framing() -> None:
    request = cs.parse_head(head("POST http://h/mirror?x=1 HTTP/1.1\nHost: h:80\nContent-Length: 5"))
    assert (request.method, request.path, request.keep_alive, request.content_length) == ("POST", "/mirror", True, 5)
    assert cs.parse_head(head("GET / HTTP/1.0")).keep_alive is False
    assert cs.parse_head(head("GET / HTTP/1.0\nConnection: keep-alive")).keep_alive is True
    assert cs.parse_head(head("GET / HTTP/1.1\nHost: h\nConnection: close")).keep_alive is False
    assert cs.parse_head(head("POST /mirror HTTP/1.1\nHost: h\nTransfer-Encoding: Chunked")).chunked


@pytest.mark.parametrize(("text", "status"), [
    ("GET / HTTP/9.9\nHost: h", 400), ("GET / http/1.1\nHost: h", 400), ("GET / HTTP/1.1 extra\nHost: h", 400),
    ("GET / HTTP/1.1", 400), ("GET / HTTP/1.1\nHost: h\nHost: h", 400), ("GET / HTTP/1.1\nHost: user@h", 400),
    ("GET / HTTP/1.1\nHost: h\nBad Field Line", 400), ("GET /\x00 HTTP/1.1\nHost: h", 400),
    ("GET / HTTP/1.1\nHost: h\nX-N: a\x00b", 400), ("GET nohost HTTP/1.1\nHost: h", 400),
    ("POST / HTTP/1.1\nHost: h\nContent-Length: 5\nTransfer-Encoding: chunked", 400),
    ("POST / HTTP/1.1\nHost: h\nContent-Length: -1", 400),
    ("POST / HTTP/1.1\nHost: h\nContent-Length: 5\nContent-Length: 6", 400),
    ("POST / HTTP/1.0\nTransfer-Encoding: chunked", 400),
    ("POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked, gzip", 400),
    ("POST / HTTP/1.1\nHost: h\nContent-Length: 67108864", 413),
])
def test_a_bad_head_gets_its_status(text: str, status: int) -> None:
    with pytest.raises(cs.HttpError) as raised:
        cs.parse_head(head(text))
    assert raised.value.status == status


def test_a_chunked_body_is_decoded_piece_by_piece() -> None:
    decoder, buffer, body = cs.Chunked(), bytearray(), b""
    for piece in (b"2\r\nab\r", b"\n1;ext=1\r\nc\r\n", b"0\r\nTrailer: x\r\n", b"\r\nGET"):
        buffer += piece
        body += decoder.feed(buffer)
    assert body == b"abc" and decoder.done and buffer == b"GET"  # the next request stays buffered
    with pytest.raises(cs.HttpError):
        cs.Chunked().feed(bytearray(b"zz\r\n"))


def test_the_blob_is_a_sha256_counter() -> None:
    data = cs.blob(100)
    assert len(data) == 100 and data[:32] == hashlib.sha256((0).to_bytes(8, "big")).digest()


def exchange(port: int, data: bytes, *, until: bytes = b"", timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        got = b""
        while not until or until not in got:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def test_pipelined_requests_are_answered_in_order_and_errors_close() -> None:
    with careful.running(blob_size=1024) as (_, port):
        got = exchange(port, head("GET /health HTTP/1.1\nHost: h\n\nPOST /mirror HTTP/1.1\nHost: h\n"
                                  "Transfer-Encoding: chunked\n\n3\nabc\n0\n\nHEAD /blob/1024 HTTP/1.1\nHost: h\n"
                                  "Connection: close\n\n"))
        assert got.count(b"HTTP/1.1 200 OK") == 3 and got.index(b"ok\n") < got.index(b"abc")
        assert got.endswith(b"Content-Length: 1024\r\nContent-Type: application/octet-stream\r\n"
                            b"Connection: close\r\n\r\n")  # HEAD: the length, no body
        assert exchange(port, head("GET / HTTP/1.1\n\n")).startswith(b"HTTP/1.1 400 ")
        assert exchange(port, head("GET /x HTTP/1.1\nHost: h\nConnection: close\n\n")).startswith(b"HTTP/1.1 404 ")


def test_a_graceful_stop_finishes_the_request_in_flight() -> None:
    with careful.running(stop_s=3) as (server, port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(head("GET /health HTTP/1.1\nHost: h\n"))  # the head is not finished yet
            deadline = time.monotonic() + 2
            # Until its head bytes are read, the connection is idle, and a stop closes an idle one at once:
            # wait for the server to hold the unfinished head, not only the connection.
            while not any(conn.inbuf for conn in list(server.connections.values())) and time.monotonic() < deadline:
                time.sleep(0.01)  # polling the server's own state, under the deadline above
            server.request_stop()
            time.sleep(0.2)
            sock.sendall(b"\r\n")
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in answer


def test_the_fresh_request_after_a_case_asks_the_profiles_small_route() -> None:
    """A server whose / is not a route (this one's small route is /health) is not judged stalled for it."""
    with careful.running(blob_size=1024) as (_, port):
        url = f"http://127.0.0.1:{port}"
        assert fresh_request_error(url, "/health") is None
        assert fresh_request_error(url, "/") == "GET /: status 404"


def test_a_stopping_server_stays_until_the_kernel_has_delivered_the_end_of_a_response() -> None:
    """The process exits, and the container's network with it, once the loop ends: a response whose end is still
    in the kernel's send queue would be lost. The loop ends only after the client has got nearly all of it."""
    size = 16 << 20
    with careful.running(stop_s=10) as (server, port):
        thread = next(t for t in threading.enumerate() if getattr(t, "_target", None) == server.serve_forever)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.settimeout(10)
        with sock:
            sock.connect(("127.0.0.1", port))
            sock.sendall(head(f"GET /blob/{size} HTTP/1.1\nHost: h\n\n"))
            time.sleep(0.3)  # the server fills the kernel's queues, then waits for the reader
            server.request_stop()
            received, at_exit = 0, None
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += len(chunk)
                if at_exit is None and not thread.is_alive():
                    at_exit = received
                time.sleep(0.0005)  # a reader slower than the loopback
        assert received > size  # the head and the whole body
        assert at_exit is None or at_exit > size - (1 << 20), f"the loop ended with {size + 200 - at_exit} bytes unsent"
