"""One POST to the echo route (/echo by default) split across many sends with pauses (TCP_NODELAY keeps the splits)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from clients.behaviours.common import check_path, post_path_attribute, route_request
from clients.registry import Attribute, BadArgument, Behaviour, PlanContext, max_duration, register
from clients.steps import Close, Pause, ReadResponses, Send, Step


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(set(cuts)), len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds) if end > start]


@register
class Fragmented(Behaviour):
    name = "fragmented"
    summary = (
        "one POST to the echo route split into sends separated by pauses: random (seeded cut points and pauses), "
        "byte_by_byte, crlf (every header line split between \\r and \\n), body (cuts inside the body)"
    )
    attributes = (
        Attribute(
            "mode", "choice", "random", "where to cut", choices=("random", "byte_by_byte", "crlf", "body")
        ),
        post_path_attribute(),
        Attribute("fragments", "count", 8, "pieces for random and body modes", minimum=2, maximum=100_000),
        Attribute("body_bytes", "bytes", 64, "size of the seeded random body", minimum=2, maximum=1 << 24),
        Attribute(
            "pause_ms",
            "milliseconds",
            50,
            "pause between pieces (random mode: seeded, uniform in [0.5, 1.5] times this)",
            minimum=0,
            maximum=60_000,
        ),
        max_duration(30),
    )

    def validate(self) -> None:
        check_path(self.text("path"))
        if self.text("mode") == "body" and self.int("fragments") > self.int("body_bytes"):
            raise BadArgument("attribute fragments: body mode needs fragments <= body_bytes")

    def pieces(self, request: bytes, context: PlanContext) -> list[bytes]:
        mode = self.text("mode")
        header_end = request.index(b"\r\n\r\n") + 4
        if mode == "byte_by_byte":
            return [request[i : i + 1] for i in range(len(request))]
        if mode == "crlf":
            cuts = [i + 1 for i in range(header_end) if request[i : i + 2] == b"\r\n"]
            return split_at(request, cuts)
        if mode == "body":
            body_cut_count = min(self.int("fragments") - 1, len(request) - header_end - 1)
            return split_at(request, context.rng.sample(range(header_end + 1, len(request)), body_cut_count))
        cut_count = min(self.int("fragments") - 1, len(request) - 1)
        return split_at(request, context.rng.sample(range(1, len(request)), cut_count))

    def expected_responses(self) -> int:
        return 1

    def plan(self, context: PlanContext) -> Iterator[Step]:
        path = self.text("path")
        request, expect = route_request(path, context.host, context.rng, self.int("body_bytes"), echo_path=path)
        assert expect is not None
        yield expect
        pieces = self.pieces(request, context)
        pause = self.seconds("pause_ms")
        for position, piece in enumerate(pieces):
            yield Send(piece)
            if position < len(pieces) - 1 and pause:
                jitter = context.rng.uniform(0.5, 1.5) if self.text("mode") == "random" else 1.0
                yield Pause(round(pause * jitter, 6))
        yield ReadResponses(1)
        yield Close()
