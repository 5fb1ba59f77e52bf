"""Slow senders and slow readers."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from clients.behaviours.common import (
    check_expect_body,
    check_path,
    expect_body_attribute,
    post_path_attribute,
    route_request,
)
from clients.registry import Attribute, Behaviour, PlanContext, max_duration, register
from clients.steps import Close, ConnectOptions, Pause, ReadOnce, ReadResponses, Send, Stall, Step


def chunk_bytes(default: int) -> Attribute:
    return Attribute("chunk_bytes", "bytes", default, "bytes per send", minimum=1, maximum=1 << 20)


def interval(default_ms: int) -> Attribute:
    return Attribute(
        "interval_ms", "milliseconds", default_ms, "pause between sends", minimum=0, maximum=600_000
    )


def endless_header_lines(context: PlanContext) -> Iterator[bytes]:
    """A request whose header section never ends: the request line, then seeded ``X-Slow-N`` lines."""
    yield f"GET / HTTP/1.1\r\nHost: {context.host}\r\n".encode("latin-1")
    for number in itertools.count():
        yield f"X-Slow-{number}: {context.rng.getrandbits(32):08x}\r\n".encode("latin-1")


def endless_header(context: PlanContext) -> Iterator[int]:
    for line in endless_header_lines(context):
        yield from line


def trickle(source: Iterator[int], size: int, pause_s: float) -> Iterator[Send | Pause]:
    while piece := bytes(itertools.islice(source, size)):
        yield Send(piece)
        yield Pause(pause_s)


@register
class Slowloris(Behaviour):
    name = "slowloris"
    summary = (
        "a request header trickled forever (endless X-Slow-N lines) until the server closes or time runs out"
    )
    attributes = (chunk_bytes(1), interval(200), max_duration(60))

    def expected_responses(self) -> int:
        return 0  # the request never ends; a 408 on the cut-off is allowed, not owed

    def plan(self, context: PlanContext) -> Iterator[Step]:
        yield from trickle(endless_header(context), self.int("chunk_bytes"), self.seconds("interval_ms"))


@register
class SlowBody(Behaviour):
    name = "slow_body"
    summary = "POST to the echo route: the header at once, then the body trickled; then the response is read"
    attributes = (
        post_path_attribute(),
        Attribute("body_bytes", "bytes", 1024, "size of the seeded random body", minimum=1, maximum=1 << 24),
        chunk_bytes(16),
        interval(200),
        max_duration(60),
    )

    def validate(self) -> None:
        check_path(self.text("path"))

    def expected_responses(self) -> int:
        return 1

    def plan(self, context: PlanContext) -> Iterator[Step]:
        path = self.text("path")
        request, expect = route_request(path, context.host, context.rng, self.int("body_bytes"), echo_path=path)
        assert expect is not None
        header_end = request.index(b"\r\n\r\n") + 4
        yield expect
        yield Send(request[:header_end])
        yield Pause(self.seconds("interval_ms"))
        body = request[header_end:]
        size = self.int("chunk_bytes")
        for start in range(0, len(body), size):
            yield Send(body[start : start + size])
            if start + size < len(body):
                yield Pause(self.seconds("interval_ms"))
        yield ReadResponses(1)
        yield Close()


@register
class SlowReader(Behaviour):
    name = "slow_reader"
    summary = (
        "GET /bytes/N with a small receive buffer; reads read_bytes every read_interval_ms (slow), "
        "or reads stop_after_bytes and then stops reading entirely (stop) until the server gives up, "
        "probing with empty lines so that even a quiet close shows as a timed RST"
    )
    attributes = (
        Attribute(
            "mode",
            "choice",
            "slow",
            "slow: keep reading slowly; stop: stop reading",
            choices=("slow", "stop"),
        ),
        Attribute("response_bytes", "bytes", 4 << 20, "N in GET /bytes/N", minimum=0, maximum=1 << 32),
        Attribute(
            "rcvbuf_bytes",
            "bytes",
            4096,
            "SO_RCVBUF before connect (Linux doubles it)",
            minimum=256,
            maximum=1 << 26,
        ),
        Attribute("read_bytes", "bytes", 512, "bytes per recv", minimum=1, maximum=1 << 20),
        Attribute(
            "read_interval_ms",
            "milliseconds",
            100,
            "pause between reads (slow mode)",
            minimum=0,
            maximum=600_000,
        ),
        Attribute(
            "stop_after_bytes",
            "bytes",
            0,
            "bytes read before stopping (stop mode)",
            minimum=0,
            maximum=1 << 32,
        ),
        Attribute(
            "probe_interval_ms",
            "milliseconds",
            250,
            "stop mode: send one CRLF (an empty line, which HTTP lets a server ignore) this often while "
            "not reading, so a server that gave up answers with a RST the client can time; 0: never",
            minimum=0,
            maximum=600_000,
        ),
        Attribute("path", "text", "", "the large resource's path; empty: /bytes/{response_bytes}"),
        expect_body_attribute(),
        max_duration(60),
    )

    def validate(self) -> None:
        if self.text("path"):
            check_path(self.text("path"))
        check_expect_body(self.text("expect_body"))

    def connect_options(self) -> ConnectOptions:
        return ConnectOptions(rcvbuf_bytes=self.int("rcvbuf_bytes"))

    def expected_responses(self) -> int:
        return 1 if self.text("mode") == "slow" else 0  # stop: it never reads the whole response

    def plan(self, context: PlanContext) -> Iterator[Step]:
        path = self.text("path") or f"/bytes/{self.int('response_bytes')}"
        request, expect = route_request(path, context.host, context.rng, 0, self.text("expect_body"))
        if expect is not None:
            yield expect
        yield Send(request)
        read_bytes = self.int("read_bytes")
        if self.text("mode") == "slow":
            while context.view.responses_complete < 1:
                yield ReadOnce(read_bytes)
                yield Stall(self.seconds("read_interval_ms"))
            yield Close()
            return
        while context.view.bytes_received < self.int("stop_after_bytes"):
            yield ReadOnce(min(read_bytes, self.int("stop_after_bytes") - context.view.bytes_received))
        yield from self.stop_reading(context)
        yield Close()

    def stop_reading(self, context: PlanContext) -> Iterator[Step]:
        """Stall until the server's FIN or RST shows, or max_duration_s.

        A server that closes with its response still queued sends its FIN behind data this client never
        reads, so the FIN never arrives. Its socket is gone, though, and answers new data with a RST: the
        probes make that close visible and timed (unread probe bytes also make the close itself a RST).
        """
        probe_s = self.seconds("probe_interval_ms")
        if not probe_s:
            yield Stall(self.max_duration_s)
            return
        while not context.view.peer_closed:
            yield Stall(probe_s)
            if not context.view.peer_closed:
                yield Send(b"\r\n")
