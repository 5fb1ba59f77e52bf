"""The plan language: what a behaviour asks the executor to do on one connection.

A behaviour yields these; the executor performs each and records it as an operation in the history.
Replay turns the recorded operations back into the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConnectOptions:
    nodelay: bool = True  # so each send leaves as its own segment(s)
    rcvbuf_bytes: int | None = None  # SO_RCVBUF set before connect (so the window scale fits)


@dataclass(frozen=True)
class Send:
    """One ``send`` of exactly these bytes (looped until all are accepted by the kernel)."""

    data: bytes


@dataclass(frozen=True)
class Pause:
    """Wait, reading whatever the server sends; ends early when the server closes."""

    seconds: float


@dataclass(frozen=True)
class Stall:
    """Wait without reading (the receive window fills); ends early when the TCP state shows a peer
    FIN or RST."""

    seconds: float


@dataclass(frozen=True)
class ReadResponses:
    """Read until this many more complete responses, the server closes, or the deadline."""

    count: int = 1


@dataclass(frozen=True)
class ReadToEnd:
    """Read until the server closes (FIN or RST) or the deadline."""


@dataclass(frozen=True)
class ReadOnce:
    """One ``recv`` of at most this many bytes (blocks until something arrives)."""

    max_bytes: int


@dataclass(frozen=True)
class ShutdownWrite:
    """``shutdown(SHUT_WR)``: a FIN, the read side stays open."""


@dataclass(frozen=True)
class Reset:
    """``SO_LINGER (1, 0)`` then ``close()``: the kernel sends a RST."""


@dataclass(frozen=True)
class Close:
    """A plain ``close()``. Linux sends RST instead of FIN if unread received bytes remain."""


@dataclass(frozen=True)
class Expect:
    """The body the next response should have; lets the result say ``expected_ok``."""

    body_len: int
    body_sha256: str


Step = Send | Pause | Stall | ReadResponses | ReadToEnd | ReadOnce | ShutdownWrite | Reset | Close | Expect
