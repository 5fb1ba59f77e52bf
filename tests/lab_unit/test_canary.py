"""The canary against small local servers: it checks the body, keeps connections alive, and is open-loop."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lab.chaos.model.checks import Verdict, slow_canary
from lab.chaos.run import canary as canary_module
from lab.chaos.run.canary import INTERVAL_S, Canary
from tests.lab_unit.histories import SCENARIO, healthy

HELLO = b"hello, epoll\n"


class Freezes:
    """A loop that blocks `for_s` every `every_s` (from `offset_s` after its start): an answer due meanwhile waits."""

    def __init__(self, every_s: float, for_s: float, offset_s: float) -> None:
        self.every_s, self.for_s, self.offset_s = every_s, for_s, offset_s
        self.started = time.monotonic()

    def wait(self) -> None:
        phase = (time.monotonic() - self.started - self.offset_s) % self.every_s
        if phase < self.for_s:
            time.sleep(self.for_s - phase)


def handler(body: bytes, *, drop_kept_alive: bool = False, freezes: Freezes | None = None
            ) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: Nagle would hold the body for an ACK
        served = 0

        def do_GET(self) -> None:
            self.served += 1
            if freezes is not None:
                freezes.wait()
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
def serving(body: bytes, **options: Any) -> Iterator[str]:
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
    """Each kept-alive request is retried on a fresh connection (a closed idle connection is a race a client
    retries), and a server that drops them all fails on the retries, not on one."""
    with serving(HELLO, drop_kept_alive=True) as url:
        canary = sample(url, 12)
    fresh = [s for s in canary.samples if not s.keep_alive]
    kept = [s for s in canary.samples if s.keep_alive]
    assert all(s.error is None and not s.retried for s in fresh)
    assert kept and all(s.retried for s in kept)
    verdict = slow_canary(replace(SCENARIO, canary=True), healthy(canary=canary.samples, started=0.0))
    assert not verdict.ok and "kept-alive canary requests found their connection closed" in verdict.message


def test_one_kept_alive_connection_closed_as_a_request_arrives_is_a_race_not_a_failure() -> None:
    with serving(HELLO) as url:
        canary = sample(url, 12)
    first_kept = next(n for n, s in enumerate(canary.samples) if s.keep_alive)
    samples = [replace(s, retried=True) if n == first_kept else s for n, s in enumerate(canary.samples)]
    assert slow_canary(replace(SCENARIO, canary=True), healthy(canary=samples, started=0.0)).ok


def judged_after(url: str, seconds: float) -> tuple[Verdict, Canary]:
    """The canary beside a case of `seconds`, judged with the default bounds."""
    with Canary(url, expect_body=HELLO) as canary:
        started = time.monotonic()
        time.sleep(seconds)  # the case's length: the canary's own threads do the work meanwhile
    return slow_canary(replace(SCENARIO, canary=True), healthy(canary=canary.samples, started=started)), canary


def test_a_server_that_freezes_half_a_second_every_two_seconds_fails() -> None:
    freezes = Freezes(every_s=2.0, for_s=0.5, offset_s=0.3)
    with serving(HELLO, freezes=freezes) as url:
        verdict, canary = judged_after(url, 4.5)  # three freezes: 0.3-0.8 s, 2.3-2.8 s and 4.3 s on
    # Too few requests for a p99 that is not the slowest one: the stalls add up instead (1.2 s unanswered or more).
    assert not verdict.ok and "unanswered ≤ 1000 ms" in verdict.message, verdict.message
    # Open loop: the slots due during the first freeze went out on time, each waiting for its end.
    start = canary.samples[0].t
    frozen = [s for s in canary.samples if 0.35 <= s.t - start <= 0.7 and not s.keep_alive]
    assert len(frozen) >= 0.2 / INTERVAL_S, [round(s.t - start, 2) for s in canary.samples]
    assert all(s.sent_after_s < 0.2 and s.latency_s is not None and s.latency_s > 0.05 for s in frozen)


def test_a_server_that_keeps_answering_passes() -> None:
    with serving(HELLO) as url:
        verdict, canary = judged_after(url, 2.0)
    assert verdict.ok, verdict.message
    assert len(canary.samples) >= 1.0 / INTERVAL_S  # a slot every 50 ms, 2 requests a slot on average


def test_requests_still_unanswered_when_the_case_ends_are_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(canary_module, "FINISH_S", 0.3)  # how long the end waits for answers still due
    with serving(HELLO, freezes=Freezes(every_s=10.0, for_s=2.0, offset_s=0.0)) as url:
        verdict, canary = judged_after(url, 0.5)  # a loop frozen for the whole case
    assert canary.samples and all(s.latency_s is None for s in canary.samples)
    assert "no answer when the canary stopped" in str(canary.samples[0].error)
    count = len(canary.samples)
    assert not verdict.ok and f"{count} of {count} canary requests failed" in verdict.message


def test_slots_never_sent_when_the_case_ends_are_neither_answered_nor_waited_for(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A slot still queued at the end (the pool full of requests waiting on a frozen loop) was never sent: it
    is no failure, and the end does not wait FINISH_S for it (a cancelled future is never marked done)."""
    monkeypatch.setattr(canary_module, "REQUEST_TIMEOUT_S", 0.5)  # each request in flight gives up after this
    with serving(HELLO, freezes=Freezes(every_s=60.0, for_s=30.0, offset_s=0.0)) as url:
        with Canary(url, expect_body=HELLO) as canary:
            time.sleep(0.6)  # 12 slots due: MAX_IN_FLIGHT sent and waiting, the rest queued behind them
        ended = time.monotonic()
    sent_and_failed = [s for s in canary.samples if s.latency_s is None]
    assert ended - canary.samples[-1].t < canary_module.FINISH_S / 2, "the end waited for slots never sent"
    assert sent_and_failed and all("timed out" in str(s.error) for s in sent_and_failed), canary.samples


def test_the_canary_meters_its_own_process_s_stalls() -> None:
    """A thread that holds the GIL stops the canary's process as a busy host does: its meter records the stall
    (which slow_canary takes out of the canary's clock), and the answers it held up are the ones it delayed."""
    with serving(HELLO) as url, Canary(url, expect_body=HELLO) as canary:
        time.sleep(0.3)  # the canary's threads sample meanwhile
        switch = sys.getswitchinterval()
        sys.setswitchinterval(5.0)  # no other thread takes the GIL from a busy one sooner
        try:
            held_until = time.monotonic() + 0.4
            while time.monotonic() < held_until:
                pass  # holds the GIL: neither the canary nor the server runs
        finally:
            sys.setswitchinterval(switch)
        time.sleep(0.3)
    longest = max(canary.stalls, key=lambda stall: stall.seconds, default=None)
    assert longest is not None and 0.35 <= longest.seconds <= 0.6, canary.stalls
    assert held_until - 0.45 <= longest.start <= held_until - 0.35
