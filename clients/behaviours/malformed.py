"""Requests no correct server may accept as they are."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from clients.behaviours.slow import endless_header_lines
from clients.registry import Attribute, Behaviour, PlanContext, max_duration, register
from clients.steps import Close, Pause, ReadResponses, Send, Step

BAD_VERSIONS = ("HTTP/9.9", "HTTP/1.1x", "HTTP/", "HTTQ/1.1", "http/1.1", "HTTP/1.1 extra")


def _garbage(host: str, rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size) + b"\r\n\r\n"


def _non_utf8(host: str, rng: random.Random, size: int) -> bytes:
    return (
        b"GET /\xff\xfe\xc3\x28 HTTP/1.1\r\nHost: "
        + host.encode()
        + b"\r\nX-Bad-\xe9: \xc0\xaf\xed\xa0\x80\r\n\r\n"
    )


def _nul_bytes(host: str, rng: random.Random, size: int) -> bytes:
    return b"GET /\x00nul HTTP/1.1\r\nHost: " + host.encode() + b"\r\nX-N\x00ul: a\x00b\r\n\r\n"


def _huge_header(host: str, rng: random.Random, size: int) -> bytes:
    return f"GET / HTTP/1.1\r\nHost: {host}\r\nX-Huge: {'a' * size}\r\n\r\n".encode()


def _cl_and_te(host: str, rng: random.Random, size: int) -> bytes:
    return (
        f"POST /echo HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n0\r\n\r\n"
    ).encode()


def _negative_cl(host: str, rng: random.Random, size: int) -> bytes:
    return f"POST /echo HTTP/1.1\r\nHost: {host}\r\nContent-Length: -1\r\n\r\nhello".encode()


def _conflicting_cl(host: str, rng: random.Random, size: int) -> bytes:
    lengths = "Content-Length: 5\r\nContent-Length: 6"
    return f"POST /echo HTTP/1.1\r\nHost: {host}\r\n{lengths}\r\n\r\nhello!".encode()


def _bad_version(host: str, rng: random.Random, size: int) -> bytes:
    return f"GET / {rng.choice(BAD_VERSIONS)}\r\nHost: {host}\r\n\r\n".encode()


# Each builder gets the Host value, the connection's random source and the size attribute.
BUILDERS: dict[str, Callable[[str, random.Random, int], bytes]] = {
    "garbage": _garbage,
    "non_utf8": _non_utf8,
    "nul_bytes": _nul_bytes,
    "huge_header": _huge_header,
    "cl_and_te": _cl_and_te,
    "negative_cl": _negative_cl,
    "conflicting_cl": _conflicting_cl,
    "bad_version": _bad_version,
}
VARIANTS = (*BUILDERS, "endless_headers")


@register
class Malformed(Behaviour):
    name = "malformed"
    summary = (
        "one malformed request (garbage, non-UTF-8 or NUL bytes, a huge header, a header section that "
        "never ends, Content-Length with Transfer-Encoding, negative or conflicting Content-Length, a bad "
        "version), then the response read"
    )
    attributes = (
        Attribute(
            "variant",
            "choice",
            "random",
            "which malformation; random: seeded per connection",
            choices=("random", *VARIANTS),
        ),
        Attribute(
            "size_bytes",
            "bytes",
            65536,
            "size of the huge header value and of the garbage",
            minimum=1,
            maximum=1 << 26,
        ),
        Attribute(
            "interval_ms",
            "milliseconds",
            100,
            "pause between header lines (endless_headers)",
            minimum=0,
            maximum=600_000,
        ),
        max_duration(30),
    )

    def variant(self, context: PlanContext) -> str:
        chosen = self.text("variant")
        return context.rng.choice(VARIANTS) if chosen == "random" else chosen

    def expected_responses(self) -> int | None:
        # A rejection is owed, except to a head that never ends (cut off) or a seeded mix of both.
        return None if self.text("variant") in ("random", "endless_headers") else 1

    def plan(self, context: PlanContext) -> Iterator[Step]:
        variant = self.variant(context)
        if variant == "endless_headers":  # whole lines, unlike slowloris's byte trickle
            for line in endless_header_lines(context):
                yield Send(line)
                yield Pause(self.seconds("interval_ms"))
        yield Send(BUILDERS[variant](context.host, context.rng, self.int("size_bytes")))
        yield ReadResponses(1)
        yield Close()
