"""The canary against small local servers: it checks the body and keeps connections alive."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lab.chaos.canary import Canary

HELLO = b"hello, epoll\n"


def handler(body: bytes, *, drop_kept_alive: bool = False) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        served = 0

        def do_GET(self) -> None:
            self.served += 1
            if drop_kept_alive and self.served > 1:  # a broken server: silently drops kept-alive requests
                self.close_connection = True
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serving(body: bytes, **options: bool) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(body, **options))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def sample(url: str, count: int) -> Canary:
    with Canary(url, expect_body=HELLO) as canary:
        deadline = time.monotonic() + 10
        while len(canary.samples) < count and time.monotonic() < deadline:
            time.sleep(0.01)  # polling the canary's own thread, bounded by the deadline
    assert len(canary.samples) >= count, "the canary made too few requests within 10 s"
    return canary


def test_a_right_answer_passes_on_fresh_and_kept_alive_connections() -> None:
    with serving(HELLO) as url:
        canary = sample(url, 8)
    assert all(s.latency_s is not None and s.error is None for s in canary.samples)
    assert any(s.keep_alive for s in canary.samples) and any(not s.keep_alive for s in canary.samples)


def test_a_wrong_body_is_a_failed_request() -> None:
    with serving(b"hello, world\n") as url:
        canary = sample(url, 2)
    assert canary.samples[0].latency_s is None
    assert "expected b'hello, epoll\\n'" in str(canary.samples[0].error)


def test_a_server_that_breaks_kept_alive_connections_is_caught() -> None:
    with serving(HELLO, drop_kept_alive=True) as url:
        canary = sample(url, 6)
    fresh = [s for s in canary.samples if not s.keep_alive]
    kept = [s for s in canary.samples if s.keep_alive]
    assert all(s.error is None for s in fresh)
    assert kept and all(s.error is not None for s in kept)
