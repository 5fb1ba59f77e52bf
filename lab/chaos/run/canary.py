"""A well-behaved client on the host that keeps asking GET / (a profile's small route) while a case runs.

Open loop, as wrk2 measures: a connection is due every INTERVAL_S whether or not earlier requests were
answered, and each request is timed from when it was due, not from when it went out. A closed loop (one
request at a time) sees a stall as one slow answer (coordinated omission); here every request due during
the stall waits for it, so the percentiles and the longest time without an answer show it.

The slots alternate a fresh `Connection: close` request and a keep-alive sequence of KEEP_ALIVE_REQUESTS on
one connection, so a server that answers first requests but breaks kept-alive ones shows too. A slot's first
request is due at the slot; each later one on its connection is due when the one before it is answered
(HTTP/1.1 without pipelining cannot send it sooner), so a stall is counted once per slot, by the request that
waited for it, not again by the requests queued behind it on the same connection. Each answer must be a 200,
and where the lab knows the body (the bundled server's `hello, epoll\\n`), that body byte for byte.

Its own stalls are measured, as jHiccup does: a meter thread sleeps METER_TICK_S at a time and records each
wake-up STALL_MIN_S or more late. The canary lives in the lab's process on a shared host: while that process does
not run (a busy host, a held GIL), no request goes out and no answer is read, and that time is not the server's
(slow_canary takes it out).

Cost, as the closed loop's: ~40 requests a second, each connection open only while its requests are answered
(a case's held-CPU window and fault triggers count the target's ESTABLISHED sockets), at most MAX_IN_FLIGHT
connections at once.
"""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from urllib.parse import urlsplit

from lab.chaos.model.history import CanarySample, CanaryStall

INTERVAL_S = 0.05
REQUEST_TIMEOUT_S = 3.0
KEEP_ALIVE_REQUESTS = 3
# Connections waiting for answers at once. A correct server answers in ~2 ms, so one or two are in flight;
# 8 cover a 0.4 s stall at one connection every 50 ms. Beyond that, due slots queue in the canary and keep
# their due time: a longer stall still counts whole in their latency, it just costs no more connections.
MAX_IN_FLIGHT = 8
# A kept-alive request's connection closed with no byte of an answer: retried once on a fresh connection.
CLOSED_WITHOUT_ANSWER = ("RemoteDisconnected", "ConnectionResetError", "BrokenPipeError")
# Once the case ends, requests in flight get this long to be answered (each step of one is bounded by the
# socket timeout); the rest are recorded as unanswered.
FINISH_S = (REQUEST_TIMEOUT_S + 1) * KEEP_ALIVE_REQUESTS
METER_TICK_S = 0.005
# Woken this much later than asked: the process did not run. Above the GIL's switch interval (5 ms) a few
# times over, so that threads taking turns are not a stall.
STALL_MIN_S = 0.02


class Canary:
    """`with Canary(url) as canary:` samples until the block ends; `canary.samples` holds the answers."""

    def __init__(self, url: str, *, path: str = "/", expect_body: bytes | None = None,
                 interval_s: float = INTERVAL_S) -> None:
        parts = urlsplit(url)
        self.path = path
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.expect_body = expect_body
        self.interval_s = interval_s
        self.samples: list[CanarySample] = []
        self.stalls: list[CanaryStall] = []
        self._owed: dict[int, tuple[float, bool]] = {}  # request id -> (due, keep_alive): due, not yet recorded
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()  # every answer in, or given up on: the meter stops
        self._pool = ThreadPoolExecutor(MAX_IN_FLIGHT, thread_name_prefix="canary")
        self._futures: list[tuple[Future[None], list[int]]] = []  # each slot's sequence and its request ids
        self._scheduler = threading.Thread(target=self._schedule, name="canary-schedule", daemon=True)
        self._meter = threading.Thread(target=self._measure_stalls, name="canary-meter", daemon=True)

    def __enter__(self) -> Canary:
        self._meter.start()
        self._scheduler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._stop.set()
            self._scheduler.join(timeout=FINISH_S)
            self._pool.shutdown(wait=False, cancel_futures=True)
            # A slot still queued (behind a full pool, or due just before the end) was cancelled, never sent: it is
            # neither answered nor owed. (`wait` would also never see it done: only a worker marks it so.)
            with self._lock:
                for future, ids in self._futures:
                    if future.cancelled():
                        for request in ids:
                            self._owed.pop(request, None)
            wait_for_futures([future for future, _ in self._futures if not future.cancelled()], timeout=FINISH_S)
        finally:
            self._done.set()  # the meter measured while the answers in flight were read, too
            self._meter.join(timeout=1.0)
        stopped = time.monotonic()
        with self._lock:
            for due, keep_alive in self._owed.values():
                self.samples.append(CanarySample(due, None, f"no answer when the canary stopped, "
                                                            f"{stopped - due:.2f} s after it was due", keep_alive))
            self._owed.clear()
            self.samples.sort(key=lambda sample: sample.t)

    def _measure_stalls(self) -> None:
        """Sleep a tick at a time until the last answer is in; each wake-up STALL_MIN_S or more late is a stall."""
        asked = time.monotonic() + METER_TICK_S
        while not self._done.wait(METER_TICK_S):
            woke = time.monotonic()
            if woke - asked >= STALL_MIN_S:
                self.stalls.append(CanaryStall(asked, woke - asked))
            asked = woke + METER_TICK_S

    def _schedule(self) -> None:
        """A slot every interval from the start; slots missed while this thread was late go out at once."""
        start = time.monotonic()
        for slot in itertools.count():
            due = start + slot * self.interval_s
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            keep_alive = slot % 2 == 1
            with self._lock:
                ids = [next(self._ids) for _ in range(KEEP_ALIVE_REQUESTS if keep_alive else 1)]
                self._owed.update((request, (due, position > 0)) for position, request in enumerate(ids))
            self._futures.append((self._pool.submit(self._sequence, due, ids, close=not keep_alive), ids))

    def _sequence(self, due: float, ids: list[int], *, close: bool) -> None:
        """The slot's requests on one connection; the first failure ends the sequence."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT_S)
        try:
            for position, request in enumerate(ids):
                sent = time.monotonic()
                error = self._request(connection, close=close)
                retried = error is not None and position > 0 and error.startswith(CLOSED_WITHOUT_ANSWER)
                if retried:
                    # RFC 9112 9.3: either side may close a connection at any time, and a server that closes an
                    # idle kept-alive one as the next request arrives (httpd's event MPM under load does) has
                    # answered nothing. Clients retry such an idempotent GET (9.3.1): once, on a fresh
                    # connection, still timed from when it was due.
                    connection.close()
                    connection = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT_S)
                    error = self._request(connection, close=close)
                answered = time.monotonic()
                sample = CanarySample(due, None if error else answered - due, error, keep_alive=position > 0,
                                      sent_after_s=sent - due, retried=retried)
                due = answered  # the next request on this connection is due once this one is answered
                with self._lock:
                    self._owed.pop(request, None)
                    self.samples.append(sample)
                if error or connection.sock is None:  # a failure, or the server declined keep-alive
                    with self._lock:
                        for skipped in ids[position + 1:]:  # never sent: neither answered nor owed
                            self._owed.pop(skipped, None)
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
