"""Requests to the bundled server's routes, and what their responses should be."""

from __future__ import annotations

import random

from clients.http import build_request, byte_pattern, sha256_hex
from clients.registry import Attribute, BadArgument
from clients.steps import Expect

HELLO = b"hello, epoll\n"


def path_attribute(default: str = "/") -> Attribute:
    return Attribute("path", "text", default, "request path: /, /echo (POST of body_bytes) or /bytes/N")


def body_attribute(default: int = 64) -> Attribute:
    return Attribute(
        "body_bytes",
        "bytes",
        default,
        "size of the seeded random body sent to /echo",
        minimum=0,
        maximum=1 << 26,
    )


def check_path(path: str) -> None:
    if not path.startswith("/") or any(c in path for c in " \r\n"):
        raise BadArgument(f"attribute path: {path!r} must start with / and contain no spaces or line breaks")


def expected_body(path: str, body: bytes) -> bytes | None:
    """The body the bundled server answers with, or None when the client cannot know it."""
    if path == "/":
        return HELLO
    if path == "/echo":
        return body
    count = path.removeprefix("/bytes/")
    if path.startswith("/bytes/") and count.isdigit():
        return byte_pattern(int(count))
    return None


def route_request(path: str, host: str, rng: random.Random, body_bytes: int) -> tuple[bytes, Expect | None]:
    """The request for ``path`` (POST with a seeded body for /echo, else GET) and its expectation."""
    body = rng.randbytes(body_bytes) if path == "/echo" else b""
    method = "POST" if path == "/echo" else "GET"
    headers = [("Content-Length", "0")] if method == "POST" and not body else []
    request = build_request(method, path, host, body=body, headers=headers)
    want = expected_body(path, body)
    return request, None if want is None else Expect(len(want), sha256_hex(want))
