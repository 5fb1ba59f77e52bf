"""Requests no correct server may accept as they are, and RFC 9112 probes (issue 10).

The probes are requests at the edge of the protocol: malformed ones that RFC 9112 requires a server
to reject (a 4xx, then close), and well-formed ones that it requires a server to accept (a 200 with
a body the client knows byte for byte).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from clients.behaviours.common import (
    BUNDLED_ECHO,
    HELLO,
    check_expect_body,
    check_path,
    expect_body_attribute,
    parse_expect_body,
)
from clients.behaviours.slow import endless_header_lines
from clients.http import byte_pattern, sha256_hex
from clients.registry import Attribute, Behaviour, PlanContext, max_duration, register
from clients.steps import Close, Expect, Pause, ReadResponses, Send, Step

# Each bad version by name, so every one can be its own probe (bad_version_<name>); bad_version alone picks
# one from the connection's random source (the "random" mix's choice, kept as it was).
BAD_VERSION_BY_NAME = {"major_9": "HTTP/9.9", "trailing_x": "HTTP/1.1x", "no_digits": "HTTP/", "wrong_name": "HTTQ/1.1",
                       "lowercase": "http/1.1", "extra_word": "HTTP/1.1 extra"}
BAD_VERSIONS = tuple(BAD_VERSION_BY_NAME.values())


def _garbage(host: str, rng: random.Random, size: int, path: str) -> bytes:
    return rng.randbytes(size) + b"\r\n\r\n"


def _non_utf8(host: str, rng: random.Random, size: int, path: str) -> bytes:
    return (
        b"GET /\xff\xfe\xc3\x28 HTTP/1.1\r\nHost: "
        + host.encode()
        + b"\r\nX-Bad-\xe9: \xc0\xaf\xed\xa0\x80\r\n\r\n"
    )


def _nul_bytes(host: str, rng: random.Random, size: int, path: str) -> bytes:
    return b"GET /\x00nul HTTP/1.1\r\nHost: " + host.encode() + b"\r\nX-N\x00ul: a\x00b\r\n\r\n"


def _huge_header(host: str, rng: random.Random, size: int, path: str) -> bytes:
    return f"GET / HTTP/1.1\r\nHost: {host}\r\nX-Huge: {'a' * size}\r\n\r\n".encode()


def _cl_and_te(host: str, rng: random.Random, size: int, path: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n0\r\n\r\n"
    ).encode()


def _negative_cl(host: str, rng: random.Random, size: int, path: str) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: -1\r\n\r\nhello".encode()


def _conflicting_cl(host: str, rng: random.Random, size: int, path: str) -> bytes:
    lengths = "Content-Length: 5\r\nContent-Length: 6"
    return f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{lengths}\r\n\r\nhello!".encode()


def _bad_version(host: str, rng: random.Random, size: int, path: str) -> bytes:
    return f"GET / {rng.choice(BAD_VERSIONS)}\r\nHost: {host}\r\n\r\n".encode()


def _one_bad_version(version: str) -> Callable[[str, random.Random, int, str], bytes]:
    def build(host: str, rng: random.Random, size: int, path: str) -> bytes:
        return f"GET / {version}\r\nHost: {host}\r\n\r\n".encode()
    return build


# -- RFC 9112 probes that a server must reject -----------------------------------------------------


def _missing_host(host: str, rng: random.Random, size: int, path: str) -> bytes:
    """3.2: an HTTP/1.1 request without Host: 400."""
    return b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"


def _duplicate_host_identical(host: str, rng: random.Random, size: int, path: str) -> bytes:
    """3.2: two Host field lines, the same value twice: 400 (lighttpd ignores this form on purpose)."""
    return f"GET / HTTP/1.1\r\nHost: {host}\r\nHost: {host}\r\n\r\n".encode()


def _duplicate_host_differing(host: str, rng: random.Random, size: int, path: str) -> bytes:
    """3.2: two Host field lines naming different hosts: 400."""
    return f"GET / HTTP/1.1\r\nHost: {host}\r\nHost: other.{host}\r\n\r\n".encode()


# Host values that are no uri-host[:port] (RFC 3986 3.2.2, 3.2.3), each its own probe (invalid_host_<name>).
INVALID_HOSTS = {"space": "exa mple", "userinfo": "user@example", "path": "example/path", "port_letters": "example:80x",
                 "two_ports": "example:1:2", "open_bracket": "[::1", "bad_percent": "ex%zzample"}


def _invalid_host(value: str) -> Callable[[str, random.Random, int, str], bytes]:
    def build(host: str, rng: random.Random, size: int, path: str) -> bytes:
        """3.2: a Host with an invalid field value: 400."""
        return f"GET / HTTP/1.1\r\nHost: {value}\r\n\r\n".encode()
    return build


def _http10_te(host: str, rng: random.Random, size: int, path: str) -> bytes:
    """6.1: Transfer-Encoding in an HTTP/1.0 request is faulty framing: 400 and close (nginx: 400)."""
    return (
        f"POST {path} HTTP/1.0\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
        "5\r\nhello\r\n0\r\n\r\n"
    ).encode()


# Transfer-Encoding values whose final coding is not chunked, each its own probe (te_not_final_<name>).
TE_NOT_FINAL = {"chunked_identity": "chunked, identity", "identity": "identity", "chunked_gzip": "chunked, gzip"}


def _te_not_final(codings: str) -> Callable[[str, random.Random, int, str], bytes]:
    def build(host: str, rng: random.Random, size: int, path: str) -> bytes:
        """6.3: chunked not the final transfer coding leaves the length unknown: 400 and close."""
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: {codings}\r\n\r\n"
        return head.encode() + b"5\r\nhello\r\n0\r\n\r\n"
    return build


def _head_error(host: str, rng: random.Random, size: int, path: str) -> bytes:
    """RFC 9110 9.3.2: HEAD with a malformed field line gets a 400 with no body (a body shows as a
    protocol error: bytes after the response)."""
    return f"HEAD / HTTP/1.1\r\nHost: {host}\r\nBad Field Line\r\n\r\n".encode()


DECLARED_BODY_BYTES = 64 << 20  # over any sane body limit (the lab's server: 8 MiB; nginx: 1 MiB)


def _body_after_error(host: str, rng: random.Random, size: int, path: str) -> bytes:
    """POST /echo declaring a 64 MiB body, then size_bytes of it: the 413 is sent while the body still
    arrives, so a server that closes at once (no lingering close) resets it away."""
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {DECLARED_BODY_BYTES}\r\n\r\n"
    return head.encode() + rng.randbytes(size)


# -- RFC 9112 probes that a server must accept: (request, the body it must answer with) -----------------


def _absolute_form(host: str, rng: random.Random, size: int, path: str) -> tuple[bytes, bytes]:
    """3.2.2: an absolute-form target is accepted; the route is its path."""
    return f"GET http://{host}{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode(), HELLO


def _query_string(host: str, rng: random.Random, size: int, path: str) -> tuple[bytes, bytes]:
    """A query string does not change the route: GET /bytes/N?q is GET /bytes/N."""
    request = f"GET {path}?x={rng.randrange(1000)}&y HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    return request.encode(), byte_pattern(size)


def _tiny_chunks(host: str, rng: random.Random, size: int, path: str) -> tuple[bytes, bytes]:
    """A chunked POST to the echo route of size_bytes in 2-byte chunks (7 wire bytes per 2 body bytes)."""
    body = rng.randbytes(size)
    chunks = b"".join(b"%x\r\n%b\r\n" % (len(body[i : i + 2]), body[i : i + 2]) for i in range(0, size, 2))
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    return head.encode() + chunks + b"0\r\n\r\n", body


# Each builder gets the Host value, the connection's random source, the size attribute and the route.
BUILDERS: dict[str, Callable[[str, random.Random, int, str], bytes]] = {
    "garbage": _garbage,
    "non_utf8": _non_utf8,
    "nul_bytes": _nul_bytes,
    "huge_header": _huge_header,
    "cl_and_te": _cl_and_te,
    "negative_cl": _negative_cl,
    "conflicting_cl": _conflicting_cl,
    "bad_version": _bad_version,
    **{f"bad_version_{name}": _one_bad_version(version) for name, version in BAD_VERSION_BY_NAME.items()},
    "missing_host": _missing_host,
    "duplicate_host_identical": _duplicate_host_identical,
    "duplicate_host_differing": _duplicate_host_differing,
    **{f"invalid_host_{name}": _invalid_host(value) for name, value in INVALID_HOSTS.items()},
    "http10_te": _http10_te,
    **{f"te_not_final_{name}": _te_not_final(codings) for name, codings in TE_NOT_FINAL.items()},
    "head_error": _head_error,
    "body_after_error": _body_after_error,
}
# Well-formed probes: the request and the body a correct server answers with (checked byte for byte).
ACCEPTED: dict[str, Callable[[str, random.Random, int, str], tuple[bytes, bytes]]] = {
    "absolute_form": _absolute_form,
    "query_string": _query_string,
    "tiny_chunks": _tiny_chunks,
}
VARIANTS = (*BUILDERS, *ACCEPTED, "endless_headers")
# The bundled server's route each variant asks (the `path` attribute names the target's): the POSTs go to
# its echo route; every other variant asks GET /.
TE_NOT_FINAL_VARIANTS = frozenset(f"te_not_final_{name}" for name in TE_NOT_FINAL)
POST_VARIANTS = frozenset({"cl_and_te", "negative_cl", "conflicting_cl", "http10_te", *TE_NOT_FINAL_VARIANTS,
                           "body_after_error", "tiny_chunks"})
# Framing the RFC answers with "close the connection after responding" (RFC 9112 6.1, 6.3): after its response
# the probe keeps reading for CLOSE_WAIT_S, so the result shows who closed, and any second response (the body
# read as a request) is seen. A correct server closes as it finishes the response; one that keeps the
# connection waits for the next request until its header or idle deadline, 2 s at the least in the lab.
CLOSE_OWED = frozenset({"cl_and_te", "http10_te", *TE_NOT_FINAL_VARIANTS})
CLOSE_WAIT_S = 1.0


def default_path(variant: str, size: int) -> str:
    if variant in POST_VARIANTS:
        return BUNDLED_ECHO
    return f"/bytes/{size}" if variant == "query_string" else "/"

# What "random" picks from: the original malformations only, so a seed picks what it always picked.
RANDOM_VARIANTS = (
    "garbage", "non_utf8", "nul_bytes", "huge_header", "cl_and_te", "negative_cl", "conflicting_cl", "bad_version",
    "endless_headers",
)


@register
class Malformed(Behaviour):
    name = "malformed"
    summary = (
        "one malformed request (garbage, non-UTF-8 or NUL bytes, a huge header, a header section that "
        "never ends, Content-Length with Transfer-Encoding, negative or conflicting Content-Length, a bad "
        "version; RFC 9112 probes: missing, duplicate or invalid Host, HTTP/1.0 with Transfer-Encoding, "
        "chunked not final, HEAD of an error; a body still arriving after its 413; every Host, version and "
        "coding by name) or an RFC 9112 probe a server must accept (absolute-form target, query string, a "
        "chunked body in 2-byte chunks: answer checked byte for byte), then the response read (and, where "
        "the RFC owes a close, 1 s more to see who closes)"
    )
    attributes = (
        Attribute(
            "variant",
            "choice",
            "random",
            "which malformation or RFC 9112 probe; random: one of the original malformations, seeded per "
            "connection",
            choices=("random", *VARIANTS),
        ),
        Attribute(
            "size_bytes",
            "bytes",
            65536,
            "size of the huge header value and of the garbage; body bytes of query_string, tiny_chunks and "
            "body_after_error",
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
        Attribute(
            "path",
            "text",
            "",
            "the route the probe asks; empty: the bundled server's (the echo route /echo for the POST "
            "variants, /bytes/{size_bytes} for query_string, / for the others)",
        ),
        expect_body_attribute(),
        max_duration(30),
    )

    def validate(self) -> None:
        if self.text("path"):
            check_path(self.text("path"))
        check_expect_body(self.text("expect_body"))

    def path(self, variant: str) -> str:
        return self.text("path") or default_path(variant, self.int("size_bytes"))

    def variant(self, context: PlanContext) -> str:
        chosen = self.text("variant")
        return context.rng.choice(RANDOM_VARIANTS) if chosen == "random" else chosen

    def expected_responses(self) -> int | None:
        # A rejection is owed, except to a head that never ends (cut off) or a seeded mix of both.
        return None if self.text("variant") in ("random", "endless_headers") else 1

    def plan(self, context: PlanContext) -> Iterator[Step]:
        variant = self.variant(context)
        if variant == "endless_headers":  # whole lines, unlike slowloris's byte trickle
            for line in endless_header_lines(context):
                yield Send(line)
                yield Pause(self.seconds("interval_ms"))
        if variant in ACCEPTED:
            request, body = ACCEPTED[variant](context.host, context.rng, self.int("size_bytes"), self.path(variant))
            # An echo answers with the body sent; another target's body is the expect_body attribute.
            declared = None if variant == "tiny_chunks" else self.text("expect_body")
            expect = Expect(len(body), sha256_hex(body)) if not declared else parse_expect_body(declared, "/", b"")
            if expect is not None:
                yield expect
            yield Send(request)
        else:
            yield Send(BUILDERS[variant](context.host, context.rng, self.int("size_bytes"), self.path(variant)))
        yield ReadResponses(1)
        if variant in CLOSE_OWED:
            yield Pause(CLOSE_WAIT_S)  # ends early when the server closes
        yield Close()
