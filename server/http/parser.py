"""Sans-I/O HTTP/1.1 request parser: bytes in, events out, ``b""`` is end of input.

Every byte is scanned a bounded number of times: searches resume where the previous one
stopped, consumed input is dropped once per ``receive_data`` call, and body bytes are handed
out as slices instead of being buffered.
"""

from __future__ import annotations

import re
from typing import Final

MAX_CHUNK_LINE: Final = 1024
MAX_LEADING_BLANK_LINES: Final = 8

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_FIELD_VALUE = rb"[^\x00-\x08\x0a-\x1f\x7f]*"  # no CR, LF or other controls; obs-text allowed
# Method token, a printable-ASCII target, and the version, in one match.
_REQUEST_LINE = re.compile(b"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/([0-9]\.[0-9])\r?")
# The header section is validated whole, then split into fields, both in C: no per-line Python.
_HEADER_BLOCK = re.compile(b"(?:" + _TOKEN + b":" + _FIELD_VALUE + rb"\r?\n)*")
_HEADER_FIELD = re.compile(b"(" + _TOKEN + b"):(" + _FIELD_VALUE + rb")\r?\n")
# A whole valid head (versions 1.0 and 1.1 only) in one match: the common case needs nothing else.
_HEAD = re.compile(
    b"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/(1\.[01])\r?\n((?:" + _TOKEN + b":" + _FIELD_VALUE + rb"\r?\n)*)"
)
_WHOLE_HEAD = re.compile(_HEAD.pattern + rb"\r?\n")  # and the empty line that ends it
# The fields that frame the body or control the connection, found without touching the others.
_FRAMING_FIELD = re.compile(
    rb"^(content-length|transfer-encoding|connection|expect|host):(" + _FIELD_VALUE + rb")\r?$", re.I | re.M
)
# RFC 9112 3.2 / RFC 3986 3.2.2: Host = uri-host [ ":" port ]; empty is allowed (no authority).
_HOST = re.compile(
    rb"(?:\[[0-9A-Fa-f:.]+\]|\[[vV][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+\]"
    rb"|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]{0,5})?"
)
_COMMON_HOST = re.compile(rb"[A-Za-z0-9\-._~!$&'()*+,;=]*(?::[0-9]{0,5})?")  # the usual reg-name[:port], fast
# Absolute-form target (RFC 9112 3.2.2): scheme "://" authority, then path and query.
_ABSOLUTE_FORM = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://([^/?#]*)(.*)", re.S)
_HEADER_NAME = re.compile(_TOKEN)
_BAD_VALUE_BYTE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_HEAD_END = re.compile(rb"\n\r?\n")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?")
KNOWN_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"}
)
_METHODS: Final = {m.encode(): m for m in KNOWN_METHODS}  # decoded once, shared by every request
_VERSIONS: Final = {b"1.1": "1.1", b"1.0": "1.0"}
_CONTENT_LENGTH: Final = b"content-length"
_TRANSFER_ENCODING: Final = b"transfer-encoding"
_CONNECTION: Final = b"connection"
_HOST_FIELD: Final = b"host"
# In lower-cased fields, each after its "\n": a framing field other than Host (one search, in C).
_OTHER_FRAMING_FIELD: Final = re.compile(rb"\n(?:content-length|transfer-encoding|connection|expect):")
_CHUNKED: Final = b"chunked"
_CR_LF: Final = (0x0D, 0x0A)
_EMPTY: Final = b""


MAX_VALID_HOSTS: Final = 64  # distinct Host values remembered as valid; more empty the memo, no more
MAX_HOST_BYTES: Final = 255  # longer values are checked every time
# Host values that passed the check, decoded: only _check_host adds to it, after the check.
_VALID_HOSTS: Final[dict[bytes, str]] = {}


def remember_host(host: bytes, text: str) -> None:
    """Keep a Host value that passed the check, so the same value is not checked again; bounded."""
    if len(host) > MAX_HOST_BYTES:
        return
    if len(_VALID_HOSTS) >= MAX_VALID_HOSTS:
        _VALID_HOSTS.clear()
    _VALID_HOSTS[host] = text


MAX_KNOWN_TAILS: Final = 64  # distinct head tails a parser remembers (see RequestParser.quick)
MAX_TAIL_BYTES: Final = 1024  # longer tails are parsed every time


class ProtocolError(Exception):
    """The input is not acceptable HTTP; ``status`` is the response to send before closing."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.method: str | None = None  # the request's method when it was known (HEAD: no error body)


class IncompleteMessage(ProtocolError):
    """End of input in the middle of a request: the client left, there is nobody to answer."""

    def __init__(self) -> None:
        super().__init__(400, "incomplete request at end of input")


class Request:
    """A request head. ``headers`` (lower-cased names, stripped values) is built on first use."""

    __slots__ = (
        "_fields_at", "_fields_end", "_head", "_headers", "content_length", "expect_continue", "host",
        "keep_alive", "method", "target", "version",
    )

    def __init__(
        self,
        method: str,
        target: str,
        version: str,
        headers: list[tuple[bytes, bytes]] | None,
        keep_alive: bool,
        content_length: int | None,
        expect_continue: bool,
        head: bytes = b"",
        fields_at: int = 0,
        fields_end: int = 0,
        host: str | None = None,
    ) -> None:
        self.method = method
        self.host = host  # the Host field, or the authority of an absolute-form target; None if absent
        self.target = target
        self.version = version
        self._headers = headers  # None: parse head[fields_at:fields_end] when asked
        self._head = head
        self._fields_at = fields_at
        self._fields_end = fields_end
        self.keep_alive = keep_alive
        self.content_length = content_length  # None for chunked bodies
        self.expect_continue = expect_continue

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        if self._headers is None:
            fields = _HEADER_FIELD.findall(self._head, self._fields_at, self._fields_end)
            self._headers = [(name.lower(), value.strip(b" \t")) for name, value in fields]
        return self._headers

    def __repr__(self) -> str:
        return f"Request({self.method} {self.target} HTTP/{self.version}, keep_alive={self.keep_alive})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _REQUEST_FIELDS)

    __hash__ = None  # type: ignore[assignment]


_new_request: Final = object.__new__  # a Request without its __init__ (RequestParser.quick sets every field)
_REQUEST_FIELDS: Final = (
    "method", "target", "version", "headers", "keep_alive", "content_length", "expect_continue", "host",
)


class Data:
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"Data({self.data!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Data) and other.data == self.data

    __hash__ = None  # type: ignore[assignment]


class _Marker:
    """An event with no data: equal to any other of its own type."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    __hash__ = None  # type: ignore[assignment]


class EndOfMessage(_Marker):
    __slots__ = ()


class ConnectionClosed(_Marker):
    """End of input at a message boundary: a clean close."""

    __slots__ = ()


Event = Request | Data | EndOfMessage | ConnectionClosed
END_OF_MESSAGE: Final = EndOfMessage()
CONNECTION_CLOSED: Final = ConnectionClosed()

# Parser states.
IDLE: Final = "idle"  # between requests, nothing buffered
HEAD: Final = "head"  # reading a request line and headers
BODY: Final = "body"  # Content-Length body
CHUNK_SIZE: Final = "chunk_size"
CHUNK_DATA: Final = "chunk_data"
CHUNK_END: Final = "chunk_end"  # the CRLF after a chunk's data
TRAILERS: Final = "trailers"
DONE: Final = "done"  # end of input seen and reported
ERROR: Final = "error"


class Limits:
    __slots__ = ("max_body_bytes", "max_header_bytes", "max_request_line")

    def __init__(
        self, max_request_line: int = 8192, max_header_bytes: int = 32768, max_body_bytes: int = 8 << 20
    ) -> None:
        self.max_request_line = max_request_line
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes


class RequestParser:
    """Feed bytes with ``receive_data``; pull events with ``next_event`` until it returns None.

    ``next_event`` raises ``ProtocolError`` (and keeps raising it) once the input is not valid
    HTTP/1.1; nothing else escapes it, whatever the bytes.
    """

    __slots__ = (
        "_blank_lines", "_body_total", "_buf", "_eof", "_error", "_first_line_len", "_method", "_pending_end",
        "_pos", "_quick_max", "_remaining", "_scan", "_state", "_tails", "_trailer_bytes", "limits", "scanned",
    )

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._quick_max = self._quick_limit()
        # Unconsumed input. A lone read is kept as the bytes it arrived in (no copy); a bytearray
        # only when reads have to be joined. Empty and shared between requests.
        self._buf: bytes | bytearray = _EMPTY
        self._pos = 0  # start of unconsumed input in _buf
        self._scan = 0  # where the next search for a line end resumes
        self._eof = False
        self._state = IDLE
        self._remaining = 0  # body or chunk bytes still to hand out
        self._body_total = 0
        self._blank_lines = 0
        self._pending_end = False  # an EndOfMessage is due before anything else
        self._trailer_bytes = 0
        self._error: ProtocolError | None = None
        self._method: str | None = None  # of the request being read, once its request line is known
        self._first_line_len = -1  # length of the request line once its end has been seen
        self.scanned = 0  # bytes examined by head searches; stays linear in the input
        # quick's memo: a head's tail (from its version on) -> what the full rules made of it.
        self._tails: dict[bytes, tuple[str, bool, str | None, int, int]] = {}

    @property
    def state(self) -> str:
        return self._state

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    @property
    def in_progress(self) -> bool:
        """True while part of a request has been received but not all of it."""
        state = self._state
        if state is IDLE or state is DONE or state is ERROR:
            return len(self._buf) > self._pos
        return True

    @property
    def at_rest(self) -> bool:
        """Between requests with nothing buffered and nothing owed: a fresh parser would do the same."""
        return (self._state is IDLE and self._pos == len(self._buf) and not self._eof and not self._pending_end
                and self._error is None)

    def receive_data(self, data: bytes) -> None:
        if self._eof:
            if data:
                raise RuntimeError("receive_data after end of input")
            return
        if not data:
            self._eof = True
            return
        buf = self._buf
        if self._pos == len(buf):  # all consumed: keep the new read as it is
            self._buf = data
            self._pos = self._scan = 0
            return
        if not isinstance(buf, bytearray):
            buf = self._buf = bytearray(buf)
        if self._pos:
            # Drop consumed input once per call, not once per event.
            del buf[: self._pos]
            self._scan -= self._pos
            self._pos = 0
        buf += data

    def next_event(self) -> Event | None:
        if self._pending_end:
            self._pending_end = False
            return END_OF_MESSAGE
        if self._state is IDLE and self._pos == len(self._buf) and not self._eof:
            # Between requests with nothing buffered: the common case, kept cheap. The consumed
            # input is dropped now rather than on the next read, so idle connections hold none.
            if self._pos:
                self._buf = _EMPTY
                self._pos = self._scan = 0
            return None
        if self._error is not None:
            raise self._error
        try:
            if self._state is IDLE or self._state is HEAD:
                return self._read_head()
            return self._next()
        except ProtocolError as err:
            if err.method is None:
                err.method = self._method
            self._error = err
            self._state = ERROR
            raise

    def _next(self) -> Event | None:
        state = self._state
        if state == BODY:
            return self._read_body()
        if state == CHUNK_SIZE:
            return self._read_chunk_size()
        if state == CHUNK_DATA:
            return self._read_chunk_data()
        if state == CHUNK_END:
            return self._read_chunk_end()
        if state == TRAILERS:
            return self._read_trailers()
        return None  # DONE

    # -- request line and headers -------------------------------------------------------

    def _read_head(self) -> Event | None:
        buf = self._buf
        if self._state is IDLE:
            pos = self._pos
            if pos < len(buf) and buf[pos] in _CR_LF:
                self._skip_empty_lines()
                pos = self._pos
            if pos == len(buf) or (buf[pos] == 0x0D and pos + 1 == len(buf)):
                return self._at_boundary()
            self._method = None
            if type(buf) is bytes:
                # The common case: a whole, valid head already here. One match parses it; anything
                # else (incomplete, invalid, over a limit) takes the incremental path below, so a
                # head is matched this way at most once and the work stays linear.
                match = _WHOLE_HEAD.match(buf, pos)
                if match is not None and match.end() - pos <= self._quick_max:
                    self._pos = self._scan = match.end()
                    self._blank_lines = 0
                    return self._request(match, buf)
            self._state = HEAD
            self._scan = pos
        start = self._pos
        # A head ends with an empty line; resume the search two bytes back in case
        # "\n\r\n" was split between reads.
        from_ = max(self._scan - 2, start)
        self.scanned += len(buf) - from_
        match = _HEAD_END.search(buf, from_)
        if match is None:
            self._head_incomplete(start, from_)
            return None
        end = match.end()
        head = bytes(buf[start : match.start() + 1])  # request line and fields, each with its line end
        self._pos = end
        self._scan = end
        self._blank_lines = 0
        self._first_line_len = -1
        return self._parse_head(head)

    def quick(self, data: bytes) -> Request | None:
        """The fast path: ``data`` as one whole request with no body, or None.

        Only for an idle parser with nothing buffered. The head goes through the same match and
        the same ``_request`` checks as on the slow path; when the result is a request without a
        body the parser is left idle and empty again, so one parser can serve every connection.
        Otherwise (anything partial, pipelined, with a body, or invalid) it returns None with the
        parser as it was, and the caller feeds ``data`` to a parser of the connection's own.

        A head is ``method SP target SP tail``, and with an origin-form target what the rules make
        of the tail (version, fields, Host) depends on the tail alone. So a tail the full rules
        accepted (in a request with no body) is remembered, bounded, and a head with a known tail
        needs only its method and target checked: the same verdict, without the rest of the work.
        """
        n = len(data)
        if n > self._quick_max:
            return None
        parts = data.split(b" ", 2)  # method and target hold no space: a valid head splits so
        if len(parts) != 3:
            return None
        method_bytes, target, tail = parts
        known = self._tails.get(tail)
        if known is not None:
            method = _METHODS.get(method_bytes)
            # An origin-form target as _HEAD takes it: "/" and printable ASCII (no space: split on it).
            # (Cheaper than a regex match: ASCII decodes without fail, and then isprintable is the test.)
            text = target.decode("ascii") if target.startswith(b"/") and target.isascii() else ""
            if method is not None and text and text.isprintable():
                # Request's fields set here, not through __init__: one Python call less per request.
                made = _new_request(Request)
                made.method = method
                made.target = text
                made.version, made.keep_alive, made.host, fields_at, fields_end = known
                made._headers = None
                made._head = data
                made._fields_at = n - fields_at  # kept as offsets from the end
                made._fields_end = n - fields_end
                made.content_length = 0
                made.expect_continue = False
                return made
        match = _WHOLE_HEAD.match(data)
        if match is None or match.end() != n:
            return None
        try:
            request: Request | None = self._request(match, data)
        except ProtocolError:
            request = None  # the slow path raises it again, with the parser state it belongs to
        self._state = IDLE
        self._pending_end = False
        self._remaining = 0
        self._method = None
        if request is None or request.content_length != 0:
            return None  # chunked (None) or a body to come
        if target[0] == 0x2F and len(tail) <= MAX_TAIL_BYTES:  # origin-form: the tail decided the rest
            tails = self._tails
            if len(tails) >= MAX_KNOWN_TAILS:
                tails.clear()
            tails[tail] = (request.version, request.keep_alive, request.host, n - request._fields_at,
                           n - request._fields_end)
        return request

    def _head_incomplete(self, start: int, from_: int) -> None:
        """Enforce the limits on a head still arriving, so an endless one is cut off early."""
        buf = self._buf
        limits = self.limits
        if self._first_line_len < 0:
            newline = buf.find(b"\n", from_)
            if newline >= 0:
                self._first_line_len = newline - start
                # The same limit whether the line came whole or in pieces (found by the fuzzer).
                if newline - start - (newline > start and buf[newline - 1] == 0x0D) > limits.max_request_line:
                    raise ProtocolError(414, "request line too long")
            elif len(buf) - start > limits.max_request_line + 1:
                raise ProtocolError(414, "request line too long")
        self._scan = len(buf)
        # A CR at the very end may open the empty line that ends the head, which a whole head does
        # not count: leave it out, so the limit falls the same however the head was split.
        header_bytes = len(buf) - start - self._first_line_len - 1 - (buf[-1] == 0x0D)
        if self._first_line_len >= 0 and header_bytes > limits.max_header_bytes:
            raise ProtocolError(431, "request headers too large")
        if self._eof:
            raise IncompleteMessage()

    def _skip_empty_lines(self) -> None:
        """RFC 9112 2.2: ignore a few empty lines before a request line."""
        buf = self._buf
        while True:
            if buf.startswith(b"\r\n", self._pos):
                self._pos += 2
            elif buf.startswith(b"\n", self._pos):
                self._pos += 1
            else:
                return
            self._blank_lines += 1
            if self._blank_lines > MAX_LEADING_BLANK_LINES:
                raise ProtocolError(400, "too many empty lines before the request")

    def _at_boundary(self) -> Event | None:
        if self._eof:
            self._state = DONE
            if self._pos < len(self._buf):  # a lone "\r" at the very end
                raise IncompleteMessage()
            return CONNECTION_CLOSED
        return None

    def _quick_limit(self) -> int:
        """Heads up to this size are within every limit, so the quick path need not check them."""
        limits = self.limits
        return min(limits.max_request_line, limits.max_header_bytes)

    def _parse_head(self, head: bytes) -> Request:
        """``head`` is the request line and the header fields, each ending with its LF."""
        match = _HEAD.fullmatch(head)
        if match is None or len(head) > self._quick_max or match[1] not in _METHODS:
            self._check_head(head)  # raises the precise error, or returns for a long valid head
            match = _HEAD.fullmatch(head)
            assert match is not None
        return self._request(match, head)

    def _request(self, match: re.Match[bytes], head: bytes) -> Request:
        """The request from a head ``match`` (groups: method, target, version, fields) within ``head``.

        The common head first: a known method, an origin-form target, one Host field and none of
        the other framing fields. Anything else, valid or not, goes to ``_framed_request``, which
        checks everything again and raises the precise error.
        """
        fields_at, fields_end = match.span(4)
        # The fields, each after its "\n" (the request line's ends the line before the first), with
        # names lower-cased: a framing field is a line that starts "\n<name>:" (the head matched
        # token ":" value per line, and no value holds a "\n").
        fields = head[fields_at - 1 : fields_end].lower()
        method = _METHODS.get(match[1])
        if method is None or _OTHER_FRAMING_FIELD.search(fields) is not None or fields.count(b"\nhost:") != 1:
            return self._framed_request(match, head)
        target = match[2].decode("ascii")  # printable ASCII by the match
        if target[0] != "/":
            return self._framed_request(match, head)  # absolute-form or asterisk-form
        value_at = fields_at + fields.find(b"\nhost:") + 5
        line_end = head.index(b"\n", value_at)
        version = _VERSIONS[match[3]]
        self._method = method  # before the Host check: an error answer to HEAD has no body
        host = self._check_host(head[value_at:line_end].rstrip(b"\r").strip(b" \t"), 1, version)
        self._body_total = 0
        self._remaining = 0
        self._state = IDLE
        self._pending_end = True
        return Request(method, target, version, None, version == "1.1", 0, False, head, fields_at, fields_end, host)

    def _framed_request(self, match: re.Match[bytes], head: bytes) -> Request:
        """``_request`` for every head: the framing fields' rules (RFC 9112 6) and the Host rules (3.2)."""
        limits = self.limits
        method = self._method = _METHODS.get(match[1])
        if method is None:
            raise ProtocolError(501, "method not implemented")
        version = _VERSIONS[match[3]]
        fields_at, fields_end = match.span(4)

        content_length: int | None = None
        codings: list[bytes] | None = None  # Transfer-Encoding, all its fields joined
        connection_tokens: list[bytes] = []
        expect_continue = False
        host: bytes | None = None
        hosts = 0
        for raw_name, raw_value in _FRAMING_FIELD.findall(head, fields_at, fields_end):
            name = raw_name.lower()
            value = raw_value.strip(b" \t")
            if name == _CONTENT_LENGTH:
                if not value.isdigit() or len(value) > 18:
                    raise ProtocolError(400, "invalid Content-Length")
                length = int(value)
                if content_length is not None and content_length != length:
                    raise ProtocolError(400, "conflicting Content-Length headers")
                content_length = length
            elif name == _TRANSFER_ENCODING:
                if codings is None:
                    codings = []
                codings.extend(c.strip(b" \t") for c in value.lower().split(b",") if c.strip(b" \t"))
            elif name == _HOST_FIELD:
                host = value
                hosts += 1
            elif name == _CONNECTION:
                connection_tokens.extend(t.strip(b" \t") for t in value.lower().split(b","))
            elif value.lower() != b"100-continue":  # Expect
                raise ProtocolError(417, "unsupported expectation")
            else:
                expect_continue = version == "1.1"
        chunked = codings is not None and self._check_codings(codings, version)
        if chunked and content_length is not None:
            raise ProtocolError(400, "both Content-Length and Transfer-Encoding")
        if content_length is not None and content_length > limits.max_body_bytes:
            raise ProtocolError(413, "request body too large")
        if version == "1.1":
            keep_alive = b"close" not in connection_tokens
        else:
            keep_alive = b"keep-alive" in connection_tokens and b"close" not in connection_tokens

        target = match[2].decode("ascii")  # printable ASCII by the match
        host_text = self._check_host(host, hosts, version)
        if target[0] != "/":
            absolute = _ABSOLUTE_FORM.fullmatch(target)
            if absolute is not None:  # RFC 9112 3.2.2: route on its path; its authority replaces Host
                authority, target = absolute.groups()
                if _HOST.fullmatch(authority.encode("ascii")) is None:
                    raise ProtocolError(400, "invalid authority in the request target")
                host_text = authority
                target = target if target.startswith("/") else "/" + target

        self._body_total = 0
        if chunked:
            self._state = CHUNK_SIZE
            return Request(
                method, target, version, None, keep_alive, None, expect_continue, head, fields_at, fields_end,
                host_text,
            )
        remaining = self._remaining = content_length or 0
        if remaining:
            self._state = BODY
        else:
            self._state = IDLE
            self._pending_end = True
            expect_continue = False
        return Request(
            method, target, version, None, keep_alive, remaining, expect_continue, head, fields_at, fields_end,
            host_text,
        )

    @staticmethod
    def _check_codings(codings: list[bytes], version: str) -> bool:
        """True for a chunked body; raise for what RFC 9112 6.1 and 6.3 reject."""
        if version == "1.0":  # 6.1: the framing is faulty; answer and close (nginx: 400)
            raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
        if not codings or codings[-1] != _CHUNKED or _CHUNKED in codings[:-1]:
            raise ProtocolError(400, "chunked is not the final transfer coding")  # 6.3: length unknown
        if len(codings) > 1:
            raise ProtocolError(501, "unsupported Transfer-Encoding")
        return True

    @staticmethod
    def _check_host(host: bytes | None, hosts: int, version: str) -> str | None:
        """RFC 9112 3.2: 400 for an HTTP/1.1 request without Host, two Hosts, or an invalid one."""
        if hosts != 1:
            if hosts > 1:
                raise ProtocolError(400, "more than one Host field")
            if version == "1.1":
                raise ProtocolError(400, "no Host field")
            return None
        assert host is not None
        text = _VALID_HOSTS.get(host)
        if text is None:
            if _COMMON_HOST.fullmatch(host) is None and _HOST.fullmatch(host) is None:
                raise ProtocolError(400, "invalid Host field")
            text = host.decode("ascii")
            remember_host(host, text)
        return text

    def _check_head(self, head: bytes) -> None:
        """Raise the ProtocolError a head deserves, in a fixed order; return if it is valid after all."""
        limits = self.limits
        line_end = head.find(b"\n")
        if line_end - (head[line_end - 1] == 0x0D) > limits.max_request_line:
            raise ProtocolError(414, "request line too long")
        if len(head) - line_end - 1 > limits.max_header_bytes:
            raise ProtocolError(431, "request headers too large")
        match = _REQUEST_LINE.fullmatch(head, 0, line_end)
        if match is None:
            raise ProtocolError(400, "malformed request line")
        if match[3] not in _VERSIONS:
            raise ProtocolError(505, "HTTP version not supported")
        self._method = _METHODS.get(match[1])
        if self._method is None:
            raise ProtocolError(501, "method not implemented")
        if _HEADER_BLOCK.fullmatch(head, line_end + 1) is None:
            raise ProtocolError(400, "malformed header field")

    # -- bodies ---------------------------------------------------------------------------


    def _take(self) -> bytes | None:
        """Up to ``_remaining`` buffered bytes, or None when none are buffered."""
        available = len(self._buf) - self._pos
        if available <= 0:
            return None
        n = min(available, self._remaining)
        data = bytes(self._buf[self._pos : self._pos + n])
        self._pos += n
        self._scan = self._pos
        self._remaining -= n
        return data

    def _read_body(self) -> Event | None:
        data = self._take()
        if data is None:
            if self._eof:
                raise IncompleteMessage()
            return None
        if self._remaining == 0:
            self._state = IDLE
            self._pending_end = True
        return Data(data)

    def _read_chunk_size(self) -> Event | None:
        line = self._line(MAX_CHUNK_LINE, 400, "chunk size line too long")
        if line is None:
            return None
        match = _CHUNK_SIZE.fullmatch(line)
        if match is None:
            raise ProtocolError(400, "malformed chunk size")
        size = int(match.group(1), 16)
        self._body_total += size
        if self._body_total > self.limits.max_body_bytes:
            raise ProtocolError(413, "request body too large")
        if size == 0:
            self._state = TRAILERS
            self._trailer_bytes = 0
            return self._read_trailers()
        self._remaining = size
        self._state = CHUNK_DATA
        return self._read_chunk_data()

    def _read_chunk_data(self) -> Event | None:
        data = self._take()
        if data is None:
            if self._eof:
                raise IncompleteMessage()
            return None
        if self._remaining == 0:
            self._state = CHUNK_END
        return Data(data)

    def _read_chunk_end(self) -> Event | None:
        line = self._line(2, 400, "missing CRLF after chunk data")
        if line is None:
            return None
        if line:
            raise ProtocolError(400, "missing CRLF after chunk data")
        self._state = CHUNK_SIZE
        return self._read_chunk_size()


    def _read_trailers(self) -> Event | None:
        while True:
            before = self._pos
            line = self._line(self.limits.max_header_bytes, 431, "trailers too large")
            if line is None:
                return None
            self._trailer_bytes += self._pos - before
            if self._trailer_bytes > self.limits.max_header_bytes:
                raise ProtocolError(431, "trailers too large")
            if not line:
                self._state = IDLE
                return END_OF_MESSAGE
            _split_header(line)

    def _line(self, limit: int, status: int, reason: str) -> bytes | None:
        """The next line without its line ending, or None if it is not complete yet."""
        buf = self._buf
        start = self._pos
        from_ = max(self._scan, start)
        self.scanned += len(buf) - from_
        end = buf.find(b"\n", from_)
        if end < 0:
            self._scan = len(buf)
            if len(buf) - start > limit + 1:
                raise ProtocolError(status, reason)
            if self._eof:
                raise IncompleteMessage()
            return None
        line = bytes(buf[start:end])
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > limit:
            raise ProtocolError(status, reason)
        self._pos = end + 1
        self._scan = self._pos
        return line


def _split_header(line: bytes) -> tuple[bytes, bytes]:
    """(lower-cased name, value without surrounding whitespace); linear in the line."""
    colon = line.find(b":")
    if colon <= 0 or _HEADER_NAME.fullmatch(line, 0, colon) is None:
        raise ProtocolError(400, "malformed header line")
    value = line[colon + 1 :].strip(b" \t")
    if _BAD_VALUE_BYTE.search(value) is not None:
        raise ProtocolError(400, "invalid byte in header value")
    return line[:colon].lower(), value
