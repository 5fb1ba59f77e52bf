"""A well-behaved client on the host that keeps asking GET / (a profile's small route) while a case runs.

Each answer is timed.

It alternates a fresh `Connection: close` request with a keep-alive sequence of KEEP_ALIVE_REQUESTS
on one connection, so a server that answers first requests but breaks kept-alive ones shows too.
Each answer must be a 200, and where the lab knows the body (the bundled server's `hello, epoll\\n`),
that body byte for byte.
"""

from __future__ import annotations

import http.client
import threading
import time
from urllib.parse import urlsplit

from lab.chaos.history import CanarySample

INTERVAL_S = 0.05
REQUEST_TIMEOUT_S = 3.0
KEEP_ALIVE_REQUESTS = 3


class Canary:
    """`with Canary(url) as canary:` samples until the block ends; `canary.samples` holds the answers."""

    def __init__(self, url: str, *, path: str = "/", expect_body: bytes | None = None) -> None:
        parts = urlsplit(url)
        self.path = path
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.expect_body = expect_body
        self.samples: list[CanarySample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="canary", daemon=True)

    def __enter__(self) -> Canary:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=(REQUEST_TIMEOUT_S + 1) * KEEP_ALIVE_REQUESTS + 2)

    def _run(self) -> None:
        keep_alive = False
        while not self._stop.is_set():
            self._sequence(KEEP_ALIVE_REQUESTS if keep_alive else 1, close=not keep_alive)
            keep_alive = not keep_alive
            self._stop.wait(INTERVAL_S)

    def _sequence(self, count: int, *, close: bool) -> None:
        """`count` requests on one connection; the first failure ends the sequence."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT_S)
        try:
            for number in range(count):
                if number and self._stop.is_set():
                    return
                started = time.monotonic()
                error = self._request(connection, close=close)
                elapsed = time.monotonic() - started
                self.samples.append(CanarySample(started, None if error else elapsed, error, keep_alive=number > 0))
                if error or connection.sock is None:  # a failure, or the server declined keep-alive
                    return
        finally:
            connection.close()

    def _request(self, connection: http.client.HTTPConnection, *, close: bool) -> str | None:
        """None when the answer is right, else what was wrong."""
        try:
            connection.request("GET", self.path, headers={"Connection": "close"} if close else {})
            response = connection.getresponse()
            body = response.read()
        except Exception as error:  # any failure is the canary's finding, not the lab's
            return f"{type(error).__name__}: {error}"
        if response.status != 200:
            return f"status {response.status}"
        if self.expect_body is not None and body != self.expect_body:
            return f"body {body[:40]!r} ({len(body)} bytes), expected {self.expect_body!r}"
        return None
