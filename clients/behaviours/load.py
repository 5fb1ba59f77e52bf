"""Many connections: held open together, or opened as fast as possible."""

from __future__ import annotations

from collections.abc import Iterator

from clients.behaviours.common import (
    check_expect_body,
    check_path,
    expect_body_attribute,
    path_attribute,
    route_request,
)
from clients.registry import Attribute, Behaviour, PlanContext, max_duration, register
from clients.steps import Close, Pause, ReadResponses, Reset, Send, Step


@register
class Flood(Behaviour):
    name = "flood"
    summary = "hold --connections connections open at the same time (idle, or after one request each)"
    default_concurrency = None  # all connections at once: holding them together is the point
    attributes = (
        Attribute(
            "hold_s", "seconds", 10.0, "how long each connection is held open", minimum=0, maximum=3600
        ),
        Attribute(
            "idle",
            "flag",
            True,
            "true: send nothing; false: one GET (path) and its response first",
        ),
        path_attribute(),
        expect_body_attribute(),
        Attribute(
            "ending",
            "choice",
            "close",
            "how each connection ends after hold_s: close (a FIN) or reset (a RST, which is never retransmitted)",
            choices=("close", "reset"),
        ),
        max_duration(30),
    )

    def validate(self) -> None:
        check_path(self.text("path"))
        check_expect_body(self.text("expect_body"))

    def expected_responses(self) -> int:
        return 0 if self.flag("idle") else 1

    def plan(self, context: PlanContext) -> Iterator[Step]:
        if not self.flag("idle"):
            request, expect = route_request(
                self.text("path"), context.host, context.rng, 0, self.text("expect_body")
            )
            if expect is not None:
                yield expect
            yield Send(request)
            yield ReadResponses(1)
        yield Pause(self.seconds("hold_s"))
        yield Reset() if self.text("ending") == "reset" else Close()


@register
class ConnectStorm(Behaviour):
    name = "connect_storm"
    summary = "--connections connects as fast as possible, each closed at once (or after one GET /)"
    default_concurrency = 64
    attributes = (
        Attribute("request", "flag", False, "true: send GET (path) and read the response before closing"),
        path_attribute(),
        expect_body_attribute(),
        max_duration(30),
    )

    def validate(self) -> None:
        check_path(self.text("path"))
        check_expect_body(self.text("expect_body"))

    def expected_responses(self) -> int:
        return 1 if self.flag("request") else 0

    def plan(self, context: PlanContext) -> Iterator[Step]:
        if self.flag("request"):
            request, expect = route_request(
                self.text("path"), context.host, context.rng, 0, self.text("expect_body")
            )
            if expect is not None:
                yield expect
            yield Send(request)
            yield ReadResponses(1)
        yield Close()
