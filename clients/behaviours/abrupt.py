"""Connections that end abruptly: half-close, FIN or RST mid-request, RST or close mid-response."""

from __future__ import annotations

from collections.abc import Iterator

from clients.behaviours.common import (
    body_attribute,
    check_expect_body,
    check_path,
    echo_path_attribute,
    expect_body_attribute,
    path_attribute,
    post_path_attribute,
    route_request,
)
from clients.registry import Attribute, Behaviour, PlanContext, max_duration, register
from clients.steps import Close, Pause, ReadOnce, ReadToEnd, Reset, Send, ShutdownWrite, Step


def send_bytes_attribute() -> Attribute:
    return Attribute(
        "send_bytes",
        "bytes",
        0,
        "bytes of the request sent before the FIN or RST; 0: a seeded point strictly inside the request",
        minimum=0,
        maximum=1 << 26,
    )


def request_prefix(behaviour: Behaviour, context: PlanContext) -> bytes:
    path = behaviour.text("path")
    request, _ = route_request(path, context.host, context.rng, behaviour.int("body_bytes"), echo_path=path)
    count = behaviour.int("send_bytes") or context.rng.randrange(1, len(request))
    return request[: min(count, len(request) - 1)]


@register
class HalfClose(Behaviour):
    name = "half_close"
    summary = "a complete request, then shutdown(SHUT_WR) (a FIN), then the whole response read until close"
    attributes = (path_attribute(), echo_path_attribute(), body_attribute(), expect_body_attribute(), max_duration(10))

    def validate(self) -> None:
        check_path(self.text("path"))
        check_path(self.text("echo_path"))
        check_expect_body(self.text("expect_body"))

    def expected_responses(self) -> int:
        return 1

    def plan(self, context: PlanContext) -> Iterator[Step]:
        request, expect = route_request(
            self.text("path"), context.host, context.rng, self.int("body_bytes"), self.text("expect_body"),
            self.text("echo_path"),
        )
        if expect is not None:
            yield expect
        yield Send(request)
        yield ShutdownWrite()
        yield ReadToEnd()
        yield Close()


@register
class AbortMidRequest(Behaviour):
    name = "abort_mid_request"
    summary = "part of a POST to the echo route, then shutdown(SHUT_WR) (a FIN); reads whatever the server answers"
    attributes = (send_bytes_attribute(), post_path_attribute(), body_attribute(), max_duration(10))

    def validate(self) -> None:
        check_path(self.text("path"))

    def expected_responses(self) -> int:
        return 0  # it gives up before a whole exchange

    def plan(self, context: PlanContext) -> Iterator[Step]:
        yield Send(request_prefix(self, context))
        yield ShutdownWrite()
        yield ReadToEnd()
        yield Close()


@register
class ResetMidRequest(Behaviour):
    name = "reset_mid_request"
    summary = "part of a POST to the echo route, a pause, then SO_LINGER (1, 0) and close: a real RST"
    attributes = (
        send_bytes_attribute(),
        post_path_attribute(),
        body_attribute(),
        Attribute(
            "pause_ms",
            "milliseconds",
            50,
            "pause between the partial send and the RST",
            minimum=0,
            maximum=600_000,
        ),
        max_duration(10),
    )

    def validate(self) -> None:
        check_path(self.text("path"))

    def expected_responses(self) -> int:
        return 0  # it gives up before a whole exchange

    def plan(self, context: PlanContext) -> Iterator[Step]:
        yield Send(request_prefix(self, context))
        if self.int("pause_ms"):
            yield Pause(self.seconds("pause_ms"))
        yield Reset()


def response_attributes() -> tuple[Attribute, ...]:
    return (
        Attribute("response_bytes", "bytes", 1 << 20, "N in GET /bytes/N", minimum=0, maximum=1 << 32),
        Attribute("path", "text", "", "the large resource's path; empty: /bytes/{response_bytes}"),
        Attribute(
            "after_bytes", "bytes", 1024, "response bytes read before giving up", minimum=1, maximum=1 << 32
        ),
        max_duration(10),
    )


def check_response_path(behaviour: Behaviour) -> None:
    if behaviour.text("path"):
        check_path(behaviour.text("path"))


def partial_response(behaviour: Behaviour, context: PlanContext) -> Iterator[Step]:
    path = behaviour.text("path") or f"/bytes/{behaviour.int('response_bytes')}"
    request, _ = route_request(path, context.host, context.rng, 0)
    yield Send(request)
    while context.view.bytes_received < behaviour.int("after_bytes"):
        yield ReadOnce(behaviour.int("after_bytes") - context.view.bytes_received)


@register
class ResetMidResponse(Behaviour):
    name = "reset_mid_response"
    summary = "GET /bytes/N, read after_bytes of the response, then SO_LINGER (1, 0) and close: a real RST"
    attributes = response_attributes()

    def validate(self) -> None:
        check_response_path(self)

    def expected_responses(self) -> int:
        return 0  # it gives up before a whole exchange

    def plan(self, context: PlanContext) -> Iterator[Step]:
        yield from partial_response(self, context)
        yield Reset()


@register
class CloseAfterPartialResponse(Behaviour):
    name = "close_after_partial_response"
    summary = (
        "GET /bytes/N, read after_bytes, then a plain close() (Linux turns it into a RST when unread "
        "response bytes are still queued, as for any real client that gives up)"
    )
    attributes = response_attributes()

    def validate(self) -> None:
        check_response_path(self)

    def expected_responses(self) -> int:
        return 0  # it gives up before a whole exchange

    def plan(self, context: PlanContext) -> Iterator[Step]:
        yield from partial_response(self, context)
        yield Close()
