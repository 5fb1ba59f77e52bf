"""Response serialisation. Heads are built once per distinct shape and Date second, and cached."""

from __future__ import annotations

from functools import lru_cache
from typing import Final

REASONS: Final = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    414: "URI Too Long",
    417: "Expectation Failed",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}

CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"


@lru_cache(maxsize=512)
def head(
    status: int,
    content_length: int,
    content_type: str = "text/plain",
    keep_alive: bool = True,
    http10: bool = False,
    extra: tuple[tuple[str, str], ...] = (),
    *,
    date: str,
) -> bytes:
    """Status line and headers, ending with the blank line.

    HTTP/1.1 keeps the connection open by default, HTTP/1.0 only when told so, so the
    Connection header is written only where it changes the default. ``date`` is the current
    ``HttpDate.value``: part of the cache key, so a new second makes new heads.
    """
    lines = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
        "Server: epoll-lab",
        f"Date: {date}",
        f"Content-Type: {content_type}",
        f"Content-Length: {content_length}",
    ]
    if not keep_alive:
        lines.append("Connection: close")
    elif http10:
        lines.append("Connection: keep-alive")
    lines.extend(f"{name}: {value}" for name, value in extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def error(status: int, date: str, head_only: bool = False) -> bytes:
    """A complete error response that closes the connection; ``date`` is the current ``HttpDate.value``."""
    body = f"{status} {REASONS.get(status, 'Error')}\n".encode("ascii")
    return head(status, len(body), keep_alive=False, date=date) + (b"" if head_only else body)
