"""Requests to the bundled server's routes, and what their responses should be.

Another target's bodies differ: the lab passes them in the `expect_body` attribute (see EXPECT_BODY_DOC).
"""

from __future__ import annotations

import random

from clients.http import build_request, byte_pattern, sha256_hex
from clients.registry import Attribute, BadArgument
from clients.steps import Expect

HELLO = b"hello, epoll\n"


BUNDLED_ECHO = "/echo"


def path_attribute(default: str = "/") -> Attribute:
    return Attribute(
        "path", "text", default, "request path: /, the echo route (a POST of body_bytes) or /bytes/N"
    )


def echo_path_attribute() -> Attribute:
    return Attribute(
        "echo_path",
        "text",
        BUNDLED_ECHO,
        "the target's echo route: a request to it is a POST of body_bytes, answered with that body",
    )


def post_path_attribute() -> Attribute:
    """The route a behaviour that always POSTs (a seeded body, echoed back) sends to."""
    return Attribute("path", "text", BUNDLED_ECHO, "the echo route the POST goes to (answered with its body)")


def body_attribute(default: int = 64) -> Attribute:
    return Attribute(
        "body_bytes",
        "bytes",
        default,
        "size of the seeded random body sent to the echo route",
        minimum=0,
        maximum=1 << 26,
    )


EXPECT_BODY_DOC = (
    "the body each response must have: empty for the bundled server's body for the path "
    "(/ its hello, the echo route the body sent, /bytes/N the i % 251 pattern), 'status' to check the status only, "
    "or LENGTH:SHA256 (the byte count and the body's sha256 in hex)"
)


def expect_body_attribute() -> Attribute:
    return Attribute("expect_body", "text", "", EXPECT_BODY_DOC)


def check_expect_body(text: str) -> None:
    """Raises BadArgument unless ``text`` is one of the forms EXPECT_BODY_DOC names."""
    parse_expect_body(text, "/", b"")


def parse_expect_body(text: str, path: str, body: bytes, echo_path: str = BUNDLED_ECHO) -> Expect | None:
    """The expectation ``text`` gives for a request to ``path`` with ``body`` (None: only the status)."""
    if text == "":
        want = expected_body(path, body, echo_path)
        return None if want is None else Expect(len(want), sha256_hex(want))
    if text == "status":
        return None
    length, sep, digest = text.partition(":")
    if not (sep and length.isdigit() and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
        raise BadArgument(f"attribute expect_body: {text!r} is not '', 'status' or LENGTH:SHA256 (64 hex digits)")
    return Expect(int(length), digest)


def check_path(path: str) -> None:
    if not path.startswith("/") or any(c in path for c in " \r\n"):
        raise BadArgument(f"attribute path: {path!r} must start with / and contain no spaces or line breaks")


def expected_body(path: str, body: bytes, echo_path: str = BUNDLED_ECHO) -> bytes | None:
    """The body the bundled server answers with, or None when the client cannot know it."""
    if path == echo_path:
        return body
    if path == "/":
        return HELLO
    count = path.removeprefix("/bytes/")
    if path.startswith("/bytes/") and count.isdigit():
        return byte_pattern(int(count))
    return None


def route_request(path: str, host: str, rng: random.Random, body_bytes: int,
                  expect_body: str = "", echo_path: str = BUNDLED_ECHO) -> tuple[bytes, Expect | None]:
    """The request for ``path`` (POST with a seeded body to the echo route, else GET) and its expectation.

    ``expect_body`` is the attribute of that name: "" for the bundled server's routes (an echo answers
    with the body sent).
    """
    post = path == echo_path
    body = rng.randbytes(body_bytes) if post else b""
    method = "POST" if post else "GET"
    headers = [("Content-Length", "0")] if post and not body else []
    request = build_request(method, path, host, body=body, headers=headers)
    return request, parse_expect_body(expect_body, path, body, echo_path)
