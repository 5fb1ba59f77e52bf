"""The lab's routes: GET /, POST /echo, GET /bytes/N, GET /__lab/stats."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from server.http import response
from server.http.date import HttpDate
from server.http.parser import Request

HELLO: Final = b"hello, epoll\n"
PATTERN_PERIOD: Final = 251
MAX_BYTES_N: Final = 1 << 40
_CHUNK: Final = 64 * 1024
# bytes(range(251)) repeated so that any 64 KiB window starting at offset < 251 fits.
_PATTERN: Final = bytes(range(PATTERN_PERIOD)) * (_CHUNK // PATTERN_PERIOD + 2)


def pattern(start: int, length: int) -> bytes:
    """Bytes ``start .. start+length`` of the /bytes pattern ``byte[i] = i % 251``; length <= 64 KiB."""
    offset = start % PATTERN_PERIOD
    return _PATTERN[offset : offset + length]


def pattern_stream(total: int) -> Iterator[bytes]:
    """The pattern in 64 KiB pieces, produced only as the connection asks for them."""
    sent = 0
    while sent < total:
        n = min(_CHUNK, total - sent)
        yield pattern(sent, n)
        sent += n


WHOLE_MAX: Final = 64 * 1024  # responses up to this size are also kept as one bytes object


class Reply:
    """A routed response: a serialised head and either a body or a lazy body stream.

    ``whole`` is head and body in one piece when the response is small enough to queue at once.
    """

    __slots__ = ("body", "head", "stream", "whole")

    def __init__(self, head: bytes, body: bytes = b"", stream: Iterator[bytes] | None = None) -> None:
        self.head = head
        self.body = body
        self.stream = stream
        self.whole = head + body if stream is None and len(body) <= WHOLE_MAX else None


class Router:
    def __init__(self, stats_json: Callable[[], bytes], date: HttpDate | None = None) -> None:
        self._stats_json = stats_json
        # Every reply carries this Date; the loop ticks it (pass the Settings' own, so one tick refreshes all).
        self.date = date or HttpDate()
        # Replies for "/" depend only on these four fields and the date: built once each per second.
        self._root: dict[tuple[str, bool, str], Reply] = self.date.memo()

    def wants_body(self, request: Request) -> bool:
        """Only /echo keeps the body; other routes let the connection drop it as it arrives."""
        return request.method == "POST" and path_of(request.target) == "/echo"

    def handle(self, request: Request, body: bytes | bytearray) -> Reply:
        return self.fixed(request) or self._route(request, body)

    def fixed(self, request: Request) -> Reply | None:
        """The reply when it depends on the request head alone (the "/" route), else None."""
        target = request.target
        if target == "/" or target.startswith("/?"):  # path_of(target) == "/", without the call
            key = (request.method, request.keep_alive, request.version)
            reply = self._root.get(key)
            if reply is None:
                reply = self._root[key] = self._route(request, b"")  # "/" takes no body
            return reply
        return None

    def _route(self, request: Request, body: bytes | bytearray) -> Reply:
        method = request.method
        target = path_of(request.target)
        keep_alive = request.keep_alive
        http10 = request.version == "1.0"
        head_only = method == "HEAD"
        if method in ("GET", "HEAD"):
            if target == "/":
                return self._ok(HELLO, keep_alive, http10, head_only)
            if target.startswith("/bytes/"):
                return self._bytes(target[7:], keep_alive, http10, head_only)
            if target == "/__lab/stats":
                return self._ok(self._stats_json(), keep_alive, http10, head_only, "application/json")
        elif method == "POST" and target == "/echo":
            return self._ok(bytes(body), keep_alive, http10, False, "application/octet-stream")
        allowed = _allowed(target)
        if allowed:
            return self._status(405, keep_alive, http10, head_only, (("Allow", allowed),))
        return self._status(404, keep_alive, http10, head_only)

    def _ok(
        self, body: bytes, keep_alive: bool, http10: bool, head_only: bool, content_type: str = "text/plain"
    ) -> Reply:
        head = response.head(200, len(body), content_type, keep_alive, http10, date=self.date.value)
        return Reply(head, b"" if head_only else body)

    def _status(
        self, status: int, keep_alive: bool, http10: bool, head_only: bool, extra: tuple[tuple[str, str], ...] = ()
    ) -> Reply:
        body = f"{status} {response.REASONS[status]}\n".encode("ascii")
        head = response.head(status, len(body), "text/plain", keep_alive, http10, extra, date=self.date.value)
        return Reply(head, b"" if head_only else body)

    def _bytes(self, arg: str, keep_alive: bool, http10: bool, head_only: bool) -> Reply:
        if not arg.isdigit() or not arg.isascii() or len(arg) > 14 or int(arg) > MAX_BYTES_N:
            return self._status(400, keep_alive, http10, head_only)
        n = int(arg)
        head = response.head(200, n, "application/octet-stream", keep_alive, http10, date=self.date.value)
        if head_only:
            return Reply(head)
        if n <= _CHUNK:
            return Reply(head, pattern(0, n))
        return Reply(head, stream=pattern_stream(n))


def path_of(target: str) -> str:
    """The target without its query: routes match on the path alone (``/?x=1`` is ``/``)."""
    query = target.find("?")
    return target if query < 0 else target[:query]


def _allowed(target: str) -> str:
    if target in ("/", "/__lab/stats") or target.startswith("/bytes/"):
        return "GET, HEAD"
    if target == "/echo":
        return "POST"
    return ""
