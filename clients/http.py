"""Tiny HTTP/1.1 helpers: build requests, read responses incrementally, the /bytes/N pattern."""

from __future__ import annotations

import hashlib
import re
from collections import deque
from dataclasses import dataclass, field

MAX_HEADER_BYTES = 64 * 1024
# A request line at the start of a line of what was sent: the method of each request, in order.
_REQUEST_LINE = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) [^ \r\n]+ HTTP/[0-9]\.[0-9]\r?$", re.M)
UNPARSEABLE = 0  # the status of a "response" that is bytes no response can start with


def request_methods(sent: bytes) -> list[str]:
    """The methods of the requests in a sent byte stream, in order (to know which responses have no body)."""
    return [method.decode("latin-1") for method in _REQUEST_LINE.findall(sent)]


def build_request(
    method: str,
    path: str,
    host: str,
    *,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    content_length: bool = True,
) -> bytes:
    """An HTTP/1.1 request; ``Content-Length`` is added for a body unless told otherwise."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    if body and content_length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def byte_pattern(count: int) -> bytes:
    """The body of ``GET /bytes/N``: ``byte[i] = i % 251``."""
    period = bytes(range(251))
    whole, rest = divmod(count, 251)
    return period * whole + period[:rest]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    complete: bool = False


class ResponseParseError(ValueError):
    pass


@dataclass
class ResponseReader:
    """Feed it received bytes in any split; it yields responses as they complete.

    ``finish()`` at end of input closes a read-until-close body and returns any partial response.
    ``methods`` are the methods of the requests sent, in order, when known: a response to HEAD has
    no body whatever its Content-Length (RFC 9110 9.3.2), so a body after it is not a response.
    """

    methods: deque[str] = field(default_factory=deque)

    _buffer: bytearray = field(default_factory=bytearray)
    _current: Response | None = None
    _remaining: int | None = None  # body bytes still expected; None = until close
    _chunked: bool = False
    _chunk_data_done: bool = False
    error: str | None = None

    def feed(self, data: bytes) -> list[Response]:
        if self.error is not None:
            return []
        self._buffer += data
        done: list[Response] = []
        try:
            while True:
                response = self._step()
                if response is None:
                    break
                done.append(response)
        except ResponseParseError as exc:
            self.error = str(exc)
        return done

    def finish(self) -> Response | None:
        """End of input: the response in progress, complete if it was read-until-close."""
        current, self._current = self._current, None
        if current is None:
            if self._buffer and self.error is None:
                self.error = "truncated header"
            return None
        current.body += bytes(self._buffer)
        self._buffer.clear()
        current.complete = self._remaining is None and not self._chunked
        return current

    def partial(self) -> Response | None:
        """The response in progress (incomplete) when the client stopped reading early."""
        if self._current is None:
            return None
        return Response(self._current.status, self._current.headers, self._current.body, complete=False)

    def _step(self) -> Response | None:
        if self._current is None and not self._start_response():
            return None
        assert self._current is not None
        if self._chunked:
            return self._step_chunked()
        if self._remaining is None:  # read until close
            self._current.body += bytes(self._buffer)
            self._buffer.clear()
            return None
        take = min(self._remaining, len(self._buffer))
        self._current.body += bytes(self._buffer[:take])
        del self._buffer[:take]
        self._remaining -= take
        return self._complete() if self._remaining == 0 else None

    def _start_response(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                raise ResponseParseError("header too long")
            return False
        head = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[: end + 4]
        status_line, *header_lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ResponseParseError("bad status line")
        headers = []
        for line in header_lines:
            name, sep, value = line.partition(":")
            if not sep:
                raise ResponseParseError("bad header line")
            headers.append((name.strip(), value.strip()))
        status = int(parts[1])
        self._current = Response(status, headers)
        lowered = {name.lower(): value for name, value in headers}
        head_only = status >= 200 and bool(self.methods) and self.methods.popleft() == "HEAD"
        self._chunked = not head_only and "chunked" in lowered.get("transfer-encoding", "").lower()
        if status < 200 or status in (204, 304) or self._chunked or head_only:
            self._remaining = 0
        elif "content-length" in lowered:
            if not lowered["content-length"].isdigit():
                raise ResponseParseError("bad content-length")
            self._remaining = int(lowered["content-length"])
        else:
            self._remaining = None
        return True

    def _step_chunked(self) -> Response | None:
        assert self._current is not None and self._remaining is not None
        while True:
            if self._remaining > 0:  # inside a chunk's data
                take = min(self._remaining, len(self._buffer))
                self._current.body += bytes(self._buffer[:take])
                del self._buffer[:take]
                self._remaining -= take
                if self._remaining > 0:
                    return None
                self._chunk_data_done = True
            if self._chunk_data_done:  # the CRLF after chunk data
                if len(self._buffer) < 2:
                    return None
                if self._buffer[:2] != b"\r\n":
                    raise ResponseParseError("bad chunk end")
                del self._buffer[:2]
                self._chunk_data_done = False
            end = self._buffer.find(b"\r\n")
            if end < 0:
                return None
            size_text = bytes(self._buffer[:end]).split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise ResponseParseError("bad chunk size") from exc
            if size == 0:
                trailer_end = self._buffer.find(b"\r\n\r\n", end)  # end of trailers, usually none
                if trailer_end < 0:
                    return None
                del self._buffer[: trailer_end + 4]
                return self._complete()
            del self._buffer[: end + 2]
            self._remaining = size

    def _complete(self) -> Response:
        assert self._current is not None
        response, self._current = self._current, None
        response.complete = True
        self._chunked = False
        self._remaining = 0
        return response


def parse_responses(stream: bytes, ended: bool, sent: bytes = b"") -> tuple[list[Response], str | None]:
    """All responses in a received byte stream (pure); ``ended`` when the server closed it.

    ``sent`` is what the client sent, for the methods of its requests (HEAD: no body). Bytes after
    the last response that cannot start one (a body after a HEAD response, garbage), or that a
    closed stream leaves unparsed, become a response with status ``UNPARSEABLE`` (0), so a check
    that judges statuses sees them.
    """
    reader = ResponseReader(methods=deque(request_methods(sent)))
    responses = reader.feed(stream)
    leftover = bytes(reader._buffer) if reader._current is None else b""
    if leftover and not b"HTTP/".startswith(leftover[:5]):  # whether or not the stream ended
        responses.append(Response(UNPARSEABLE, [], leftover))
        reader.error = reader.error or f"{len(leftover)} bytes that start no response"
    elif ended:
        last = reader.finish()
        if last is not None:
            responses.append(last)
        elif reader.error is not None and leftover:
            responses.append(Response(UNPARSEABLE, [], leftover))
    else:
        partial = reader.partial()
        if partial is not None:
            responses.append(partial)
    return responses, reader.error
