"""Well-formed traffic and bare connections."""

from __future__ import annotations

from collections.abc import Iterator

from clients.behaviours.common import (
    body_attribute,
    check_expect_body,
    check_path,
    echo_path_attribute,
    expect_body_attribute,
    path_attribute,
    route_request,
)
from clients.registry import Attribute, Behaviour, PlanContext, max_duration, register
from clients.steps import Close, Pause, ReadResponses, Send, Step


@register
class WellBehaved(Behaviour):
    name = "well_behaved"
    summary = "a keep-alive sequence of complete requests, each response read before the next request"
    attributes = (
        Attribute("requests", "count", 3, "requests on each connection", minimum=1, maximum=10_000),
        path_attribute(),
        echo_path_attribute(),
        body_attribute(),
        expect_body_attribute(),
        Attribute("pause_ms", "milliseconds", 0, "pause after each response", minimum=0, maximum=60_000),
        max_duration(10),
    )

    def validate(self) -> None:
        check_path(self.text("path"))
        check_path(self.text("echo_path"))
        check_expect_body(self.text("expect_body"))

    def expected_responses(self) -> int:
        return self.int("requests")

    def plan(self, context: PlanContext) -> Iterator[Step]:
        for _ in range(self.int("requests")):
            request, expect = route_request(
                self.text("path"), context.host, context.rng, self.int("body_bytes"), self.text("expect_body"),
                self.text("echo_path"),
            )
            if expect is not None:
                yield expect
            yield Send(request)
            yield ReadResponses(1)
            if self.int("pause_ms"):
                yield Pause(self.seconds("pause_ms"))
        yield Close()


@register
class Pipelined(Behaviour):
    name = "pipelined"
    summary = "N complete requests in one write, then all N responses read"
    attributes = (
        Attribute("requests", "count", 5, "requests in the single write", minimum=1, maximum=10_000),
        path_attribute(),
        echo_path_attribute(),
        body_attribute(),
        expect_body_attribute(),
        max_duration(10),
    )

    def validate(self) -> None:
        check_path(self.text("path"))
        check_path(self.text("echo_path"))
        check_expect_body(self.text("expect_body"))

    def expected_responses(self) -> int:
        return self.int("requests")

    def plan(self, context: PlanContext) -> Iterator[Step]:
        requests = []
        for _ in range(self.int("requests")):
            request, expect = route_request(
                self.text("path"), context.host, context.rng, self.int("body_bytes"), self.text("expect_body"),
                self.text("echo_path"),
            )
            requests.append(request)
            if expect is not None:
                yield expect
        yield Send(b"".join(requests))
        yield ReadResponses(len(requests))
        yield Close()


@register
class ConnectAndClose(Behaviour):
    name = "connect_and_close"
    summary = "connect, then close at once without sending anything (a FIN)"
    attributes = (max_duration(10),)

    def expected_responses(self) -> int:
        return 0

    def plan(self, context: PlanContext) -> Iterator[Step]:
        yield Close()


@register
class ConnectAndIdle(Behaviour):
    name = "connect_and_idle"
    summary = "connect and send nothing until the server closes or idle_s passes (watches for the close)"
    attributes = (
        Attribute("idle_s", "seconds", 30.0, "how long to idle before closing", minimum=0, maximum=3600),
        max_duration(60),
    )

    def expected_responses(self) -> int:
        return 0  # nothing asked; a 408 on the close is allowed, not owed

    def plan(self, context: PlanContext) -> Iterator[Step]:
        yield Pause(self.seconds("idle_s"))
        yield Close()
