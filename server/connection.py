"""One HTTP/1.1 connection: the protocol state machine over a non-blocking socket-like transport.

The event loop owns registration and closing. It calls ``handle_event`` (or ``run`` from its
ready list, or ``on_timeout``), then reads back ``close_reason``, ``mask`` and ``deadline``.
The transport is a real socket in the server and a fake one in the unit tests.
"""

from __future__ import annotations

import errno
import fcntl
import select
import socket
import struct
import termios
from collections import deque
from collections.abc import Iterator
from time import monotonic
from typing import Any, Final, Generic, Protocol, TypeVar

from server.http import response
from server.http.date import HttpDate
from server.http.parser import (
    BODY,
    CHUNK_DATA,
    CHUNK_END,
    CHUNK_SIZE,
    ConnectionClosed,
    Data,
    EndOfMessage,
    IncompleteMessage,
    Limits,
    ProtocolError,
    Request,
    RequestParser,
)
from server.known import KnownRequests
from server.routes import Router
from server.stats import Stats

RECV_SIZE: Final = 64 * 1024
READ_BUDGET: Final = 16  # recv calls per wakeup, so one fast client cannot starve the rest
# ... and the time they may take: 64 KiB of 2-byte chunks is ~9,000 parser events, ~50 ms of Python. Sixteen such
# reads in one turn answered no other client for seconds (the canary beside tiny_chunks: max 4.1 s). After this
# much of one turn, no more reads: the rest waits for the next turn (level: epoll again; edge: the ready list).
READ_TIME_BUDGET_S: Final = 0.005
WRITE_BUDGET: Final = 4 << 20  # bytes sent per wakeup (tcp_wmem max is 4 MiB): in practice until EAGAIN
FILL_TARGET: Final = 64 * 1024  # pull lazy response bodies until this much is buffered
HIGH_WATER: Final = 256 * 1024  # queued output above which we stop parsing and reading
MAX_PENDING: Final = 64  # queued responses above which we stop parsing and reading
LINGER_MAX_SECONDS: Final = 5.0
LINGER_MAX_BYTES: Final = 64 << 20
RESET_ERRNOS: Final = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN, errno.ECONNABORTED})
BODY_STATES: Final = frozenset({BODY, CHUNK_SIZE, CHUNK_DATA, CHUNK_END})

EPOLLIN: Final = select.EPOLLIN
EPOLLOUT: Final = select.EPOLLOUT
EPOLLRDHUP: Final = select.EPOLLRDHUP
EPOLLHUP: Final = select.EPOLLHUP
EPOLLERR: Final = select.EPOLLERR
EPOLLET: Final = select.EPOLLET
READ_MASK: Final = EPOLLIN | EPOLLRDHUP
# Every mask a connection can want, indexed by 2 * has_output + wants_input. Shared int objects:
# a mask computed afresh would be a new int in every idle connection.
_LEVEL_MASKS: Final = (0, READ_MASK, EPOLLOUT, EPOLLOUT | READ_MASK)
_EDGE_MASKS: Final = tuple(mask | EPOLLET for mask in _LEVEL_MASKS)
_NO_OUTPUT: Final = b""  # _out while nothing is queued: shared, so idle connections hold no buffer
_READABLE: Final = EPOLLIN | EPOLLRDHUP
_HUP_OR_ERR: Final = EPOLLHUP | EPOLLERR


def unsent_in_kernel(sock: Transport) -> int:
    """Bytes the kernel still holds for the peer (TIOCOUTQ); 0 when it cannot tell."""
    try:
        (count,) = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))
    except (OSError, ValueError):
        return 0
    return int(count)


class Transport(Protocol):
    def fileno(self) -> int: ...
    def close(self) -> None: ...
    def recv(self, bufsize: int, /) -> bytes: ...
    def send(self, data: bytes | bytearray | memoryview, /) -> int: ...
    def shutdown(self, how: int, /) -> None: ...
    def setsockopt(self, level: int, optname: int, value: int, /) -> None: ...
    def getsockopt(self, level: int, optname: int, /) -> int: ...


class Settings:
    """What a connection needs from the configuration."""

    __slots__ = ("date", "edge", "header_timeout", "idle_timeout", "known", "limits", "masks", "quick_parser",
                 "tcp_cork", "write_timeout")

    def __init__(
        self,
        edge: bool = False,
        header_timeout: float = 10.0,
        idle_timeout: float = 60.0,
        write_timeout: float = 30.0,
        limits: Limits | None = None,
        tcp_cork: bool = False,
        date: HttpDate | None = None,
    ) -> None:
        self.edge = edge
        self.masks = _EDGE_MASKS if edge else _LEVEL_MASKS
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.write_timeout = write_timeout
        self.limits = limits or Limits()
        self.tcp_cork = tcp_cork
        self.quick_parser = RequestParser(self.limits)  # idle and empty between uses: shared
        # The Date in replies (the loop gives the Router the same one): a new second empties the known answers.
        self.date = date or HttpDate()
        self.known = KnownRequests(date=self.date)  # requests the quick path answered, with their answers


def close_reason_for(err: OSError) -> str:
    return "reset" if err.errno in RESET_ERRNOS else "error"


class RareState:
    """A connection's state that most connections never set: made on the first such write."""

    __slots__ = ("batch", "body", "close_as", "drained", "hangup", "input_done", "linger_deadline", "lingering",
                 "opened_at", "peer", "peer_eof", "rdhup", "shutdown")

    def __init__(self) -> None:
        self.batch = 0  # responses queued since the last flush (counted with TCP_CORK only)
        self.body: bytearray | None = None  # the request body being collected (only for routes that want it)
        self.close_as: str | None = None  # reason to record for a close under way, else decided by how it ends
        self.drained = 0  # bytes read and dropped while lingering
        self.hangup = False  # EPOLLHUP or EPOLLERR seen
        self.input_done = False  # end of input reached at a message boundary
        self.linger_deadline = 0.0  # when lingering gives up (also the graceful stop's deadline)
        self.lingering = False  # write side shut; draining input until the client closes
        self.opened_at = 0.0  # for the event log only (set by the loop when it logs)
        self.peer = ""  # for the event log only
        self.peer_eof = False  # recv returned b""
        self.rdhup = False  # epoll reported the peer's FIN: read on to the end of input
        self.shutdown = False  # a graceful stop is under way


RARE_DEFAULTS: Final[dict[str, Any]] = {name: getattr(RareState(), name) for name in RareState.__slots__}

V = TypeVar("V")


class _Rare(Generic[V]):
    """A connection attribute kept in its RareState: reading it while none exists gives the default,
    and writing the default then makes none. 10,000 idle connections carry one empty slot for them all."""

    __slots__ = ("default", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.default: V = RARE_DEFAULTS[name]

    def __get__(self, conn: Connection, owner: object = None) -> V:
        rare = conn._rare
        return self.default if rare is None else getattr(rare, self.name)

    def __set__(self, conn: Connection, value: V) -> None:
        rare = conn._rare
        if rare is None:
            if value == self.default:
                return
            rare = conn._rare = RareState()
        setattr(rare, self.name, value)


class Connection:
    # Slots: 10,000 idle connections should cost kilobytes each at most, not a dict each.
    __slots__ = (
        "_closing", "_fresh", "_last_active", "_last_recv", "_last_send", "_need_data", "_out", "_parser", "_pending",
        "_pending_bytes", "_quiet", "_rare", "_request", "_request_started", "_write_left", "can_recv",
        "can_send", "close_reason", "deadline", "edge", "fd", "in_ready", "mask", "registered_mask", "requests",
        "router", "settings", "sock", "stats", "timer_at",
    )

    # Rarely set: kept in a RareState made on demand (see _Rare).
    _batch: _Rare[int] = _Rare("batch")
    _body: _Rare[bytearray | None] = _Rare("body")
    _close_as: _Rare[str | None] = _Rare("close_as")
    _drained: _Rare[int] = _Rare("drained")
    _hangup: _Rare[bool] = _Rare("hangup")
    _input_done: _Rare[bool] = _Rare("input_done")
    _linger_deadline: _Rare[float] = _Rare("linger_deadline")
    _lingering: _Rare[bool] = _Rare("lingering")
    opened_at: _Rare[float] = _Rare("opened_at")
    peer: _Rare[str] = _Rare("peer")
    _peer_eof: _Rare[bool] = _Rare("peer_eof")
    _rdhup: _Rare[bool] = _Rare("rdhup")
    _shutdown: _Rare[bool] = _Rare("shutdown")

    def __init__(self, sock: Transport, settings: Settings, router: Router, stats: Stats, now: float) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self._rare: RareState | None = None
        self.settings = settings
        self.router = router
        self.stats = stats
        self.edge = settings.edge
        # Made when bytes of a request arrive, dropped when it is answered: idle connections hold none.
        self._parser: RequestParser | None = None
        self.close_reason: str | None = None  # set once; the loop then closes and forgets us
        self.registered_mask = 0  # what the loop last told epoll
        self.mask = 0  # what epoll should be told now (set by _settle)
        self.deadline: float | None = None  # for the timer wheel
        self.timer_at: float | None = None
        self.in_ready = False  # on the loop's ready list (edge mode)
        self.can_recv = False  # edge mode: no EAGAIN seen since the last EPOLLIN
        self.can_send = True  # no EAGAIN seen since the last EPOLLOUT
        self.requests = 0
        self._out: bytes | bytearray = _NO_OUTPUT  # bytes while it is one response, sent as it is
        # Output queued behind a lazy body; None while empty (most connections never need it).
        self._pending: deque[bytes | Iterator[bytes]] | None = None
        self._pending_bytes = 0
        self._write_left = WRITE_BUDGET
        self._need_data = True  # the parser is waiting for bytes
        self._request: Request | None = None
        self._closing = False  # close once the queued output is sent
        self._fresh = True  # nothing received yet
        self._request_started = now
        self._last_recv = now
        self._last_send = now
        self._last_active = now
        self._quiet = False  # set by _settle: the next EPOLLIN may take the fast path
        self._settle()

    def _new_parser(self) -> RequestParser:
        parser = self._parser = RequestParser(self.settings.limits)
        return parser

    def _in_request(self) -> bool:
        """Part of a request received but not all of it."""
        parser = self._parser
        return parser is not None and parser.in_progress

    # -- entry points for the loop ---------------------------------------------------------

    def handle_event(self, events: int, now: float) -> bool:
        """Returns True when nothing changed that the loop must act on (mask, deadline order, ready list)."""
        if events == EPOLLIN and self._quiet:
            return self._quick(now)
        if events & _HUP_OR_ERR:
            # Through the read path: recv reports the reset or the end of input.
            self.can_recv = True
            self._hangup = True
            self.can_send = False  # nothing can be sent once both directions are shut
            self.run(now)
            if self.close_reason is None:
                self._abort(self._hangup_reason(events))
            return False
        if events & _READABLE:
            self.can_recv = True
            if events & EPOLLRDHUP:
                self._rdhup = True
        if events & EPOLLOUT:
            self.can_send = True
        self.run(now)
        return False

    def _quick(self, now: float) -> bool:
        """The common wakeup: one whole small request in one read, answered with one send.

        Runs only while the connection is quiet (see _settle): nothing buffered, owed or pending,
        no close under way. Anything else met here is handed to the slow path as it stands.
        """
        try:
            data = self.sock.recv(RECV_SIZE)
        except BlockingIOError:
            self.can_recv = False
            return True  # nothing there after all: nothing changed
        except OSError as err:
            self._io_failed(err)
            return False
        settings = self.settings
        out = settings.known.answers.get(data)  # these exact bytes were parsed, checked and answered before
        if out is None:
            # A request not seen before: parsed and checked in full (inline: this runs per request).
            n = len(data)
            request = settings.quick_parser.quick(data) if 0 < n < RECV_SIZE else None
            if request is None or not request.keep_alive:  # (quiet: no stop under way)
                self._not_quick(data, request, now)
                return False  # the slow path took it
            reply = self.router.fixed(request)
            out = reply.whole if reply is not None else None
            if out is None:
                self._not_quick(data, request, now)
                return False  # the general writer took it
            # The same bytes get the same answer. A target with a query is most likely unique (a
            # counter, a cache buster): kept, it would only push out the ones that come back.
            if "?" not in request.target:
                settings.known.remember(data, out)
        self.can_recv = False  # a short read emptied the socket (and ends an edge)
        self.requests += 1
        stats = self.stats
        stats.requests += 1
        stats.bytes_in += len(data)
        # (Quiet means not fresh and between requests: the request start and receive times are
        # read only for a request in progress, which sets them itself.)
        self._last_active = now
        try:
            sent = self.sock.send(out)
        except BlockingIOError:
            sent = 0
            self.can_send = False
        except OSError as err:
            self._io_failed(err)
            return False
        stats.bytes_out += sent
        if sent < len(out):
            if sent:
                self._out = bytearray(memoryview(out)[sent:])
            else:
                self._out = out
            self._last_send = now
            self._settle()  # now waiting for EPOLLOUT
            return False
        self.deadline = now + settings.idle_timeout  # only later: the timer wheel's entry stays
        return self.timer_at is not None

    def _not_quick(self, data: bytes, request: Request | None, now: float) -> None:
        """What _quick cannot answer with a fixed reply: not one simple request, or a reply that
        needs the writer. ``request`` is what the quick parse made of ``data``, if anything."""
        if request is None or not request.keep_alive:
            # Not the simple case: exactly what the slow path does after the same recv.
            self.can_recv = self.edge and len(data) == RECV_SIZE
            self._received(data, now)
            self.run(now)
            return
        # A reply made per request (stats, /bytes/N, 404): the general writer, as the slow path.
        self.can_recv = False
        self.stats.bytes_in += len(data)
        self._fresh = False
        self._request_started = self._last_recv = self._last_active = now
        self._request = request
        self._respond()
        self.run(now)

    def run(self, now: float) -> None:
        """Do all the I/O that is possible now, within this wakeup's budgets."""
        if self.close_reason is not None:
            return
        self._write_left = WRITE_BUDGET
        if now > self._last_active:
            self._last_active = now
        recvs = 0
        began = monotonic()
        while True:
            if not self._need_data or self._out or self._pending:
                self._progress(now)
                if self.close_reason is not None:
                    return
            if (self._closing or self._input_done) and not self._hangup:
                self._finish_if_done(now)
                if self.close_reason is not None:
                    return
            if not self.can_recv or recvs >= READ_BUDGET or not (self._hangup or self._wants_input()):
                break
            if recvs and monotonic() - began > READ_TIME_BUDGET_S:
                break  # this connection had its share of the turn
            recvs += 1
            self._recv(now)
            if self.close_reason is not None:
                return
            if not self.edge:
                self.can_recv = False
        if not self.edge:
            self.can_recv = False  # level-triggered: epoll tells us again
        self._write_left = WRITE_BUDGET  # the shared constant, not a leftover int per idle connection
        self._settle()

    def on_timeout(self, now: float) -> None:
        if self._lingering:
            self._abort(self._close_as or "timeout")
        elif self._has_output():
            self._abort("timeout")  # stalled write
        elif self._in_request():
            self._fail(408, "timeout")
            self.run(now)
        else:
            self._abort("timeout")  # idle keep-alive, or connected and never sent anything
        if self.close_reason is None:
            self._settle()

    def begin_shutdown(self, now: float, deadline: float | None = None) -> None:
        """Graceful stop: finish what is in flight, delivered, by `deadline`; then close."""
        self._shutdown = True
        # Read only once lingering starts: until then it holds the stop deadline (no extra slot).
        self._linger_deadline = deadline if deadline is not None else now + LINGER_MAX_SECONDS
        if not self._in_request() and not self._has_output() and self._request is None:
            if not unsent_in_kernel(self.sock):
                self._abort("eof")
                return
            # An answered request whose bytes still wait in the kernel: deliver them first.
            self._closing = True
        if not self._in_request():
            self._closing = True
        self.run(now)

    def event_mask(self) -> int:
        return self.settings.masks[(2 if self._out or self._pending else 0) + self._wants_input()]

    def needs_another_turn(self) -> bool:
        """Edge mode: readiness left unused because a budget ran out (the ready list's test)."""
        return self.close_reason is None and (
            (self.can_recv and self._wants_input()) or (self.can_send and self._has_output())
        )

    @property
    def output_buffered(self) -> int:
        """Response bytes held in memory (lazy bodies count only once produced)."""
        return len(self._out) + self._pending_bytes

    @property
    def idle(self) -> bool:
        return not self._in_request() and not self._has_output()

    # -- state --------------------------------------------------------------------------

    def _has_output(self) -> bool:
        return bool(self._out or self._pending)

    def _backlogged(self) -> bool:
        pending = self._pending
        return len(self._out) + self._pending_bytes >= HIGH_WATER or (
            pending is not None and len(pending) >= MAX_PENDING
        )

    def _wants_input(self) -> bool:
        rare = self._rare  # read directly: this runs twice per wakeup
        if rare is not None:
            if rare.peer_eof:
                return False
            if rare.lingering:
                return True
        if not self._need_data or self._closing:
            return False
        pending = self._pending  # not backlogged (inlined: this runs twice per request)
        return len(self._out) + self._pending_bytes < HIGH_WATER and (pending is None or len(pending) < MAX_PENDING)

    def _settle(self) -> None:
        """After any work: the deadline for the timer wheel, the events for epoll, and whether it is quiet."""
        self.mask = self.event_mask()
        self._quiet = False
        s = self.settings
        if self._lingering:
            self.deadline = self._linger_deadline
        elif self._out or self._pending:
            self.deadline = self._last_send + s.write_timeout
        elif self._fresh:
            self.deadline = self._request_started + s.header_timeout
        elif not self._in_request():
            self.deadline = self._last_active + s.idle_timeout
            # Quiet: the next EPOLLIN may take the fast path (_quick).
            self._quiet = (self._need_data and not self._closing and not self._lingering
                           and not self._shutdown and not self._peer_eof and not self._rdhup and not self._hangup
                           and self._request is None)
            return
        elif self._parser is not None and self._parser.state not in BODY_STATES:
            self.deadline = self._request_started + s.header_timeout
        else:
            self.deadline = self._last_recv + s.header_timeout  # body: progress-based

    def _hangup_reason(self, events: int) -> str:
        """Why a HUP/ERR wakeup ended a connection the read path did not close.

        A level-mode wakeup reads once: with unread input (pipelined requests) still queued the
        reset is not reached, so the socket's pending error says what happened.
        """
        if not events & EPOLLERR:
            return "hup"
        try:
            code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError:
            return "error"
        return "reset" if code in RESET_ERRNOS else "error"

    def _io_failed(self, err: OSError, reason: str | None = None) -> None:
        """The one place an I/O error ends a connection: close as ``reason`` or as the error says."""
        self._abort(reason or close_reason_for(err))

    def _abort(self, reason: str) -> None:
        self.close_reason = reason
        self.deadline = None
        self._out = _NO_OUTPUT
        self._pending = None
        self._pending_bytes = 0
        self._body = None

    def _fail(self, status: int, reason: str, head_only: bool = False) -> None:
        """Answer ``status`` (no body to a HEAD request) and close once it is sent."""
        self._queue(response.error(status, self.router.date.value, head_only))
        self._closing = True
        self._close_as = reason
        self._request = None
        self._body = None

    # -- input --------------------------------------------------------------------------

    def _recv(self, now: float) -> None:
        try:
            data = self.sock.recv(RECV_SIZE)
        except BlockingIOError:
            self.can_recv = False
            return
        except OSError as err:
            self._io_failed(err)
            return
        self._received(data, now)

    def _received(self, data: bytes, now: float) -> None:
        """What one recv brought: end of input, or bytes for the parser (or the drain)."""
        if not data:
            self.can_recv = False
            self._peer_eof = True
            if self._lingering or self._closing:
                self._abort(self._close_as or "eof")
                return
            (self._parser or self._new_parser()).receive_data(b"")
            self._need_data = False
            return
        n = len(data)
        if n < RECV_SIZE and self.edge and not self._rdhup and not self._hangup:
            # A short read emptied the socket, and any later arrival raises a new edge, so the
            # recv that would only say EAGAIN is skipped (as nginx does). After EPOLLRDHUP no
            # new edge would come for the FIN, so then we read on to the end of input.
            self.can_recv = False
        self.stats.bytes_in += n
        self._last_recv = self._last_active = now
        if self._lingering:
            self._drained += n
            if self._drained > LINGER_MAX_BYTES:
                self._abort(self._close_as or "protocol")
            return
        parser = self._parser or self._new_parser()
        if not parser.in_progress:
            self._request_started = now
        self._fresh = False
        parser.receive_data(data)
        self._need_data = False

    def _parse(self) -> None:
        if self._backlogged() or self._input_done:
            return
        parser = self._parser
        if parser is None:  # nothing received since the last request was answered
            self._need_data = True
            return
        next_event = parser.next_event
        while not self._closing:
            try:
                event = next_event()
            except IncompleteMessage:
                self._abort("eof")  # the client left mid-request: nobody to answer
                return
            except ProtocolError as err:
                self.stats.parse_errors += 1
                self._fail(err.status, "protocol", err.method == "HEAD")
                return
            if event is None:
                self._need_data = True
                if parser.at_rest:
                    self._parser = None  # the next request gets a fresh one when it arrives
                return
            kind = type(event)
            if kind is Request:
                request: Request = event  # type: ignore[assignment]
                self._request = request
                if self.router.wants_body(request):  # else _body stays None (cleared by _respond)
                    # One buffer for the body: a list of chunks costs an object per chunk (2-byte chunks: ~20×).
                    self._body = self._new_body()
                if request.expect_continue:
                    self._queue(response.CONTINUE)
            elif kind is EndOfMessage:
                self._respond()
                if self._backlogged():  # only queueing output changes this
                    return
            elif kind is Data:
                body = self._body
                if body is not None:
                    body += event.data  # type: ignore[union-attr]  # in place: the RareState keeps it
            elif kind is ConnectionClosed:
                self._input_done = True
                return

    def _new_body(self) -> bytearray:
        return bytearray()

    def _respond(self) -> None:
        request = self._request
        assert request is not None
        body = None
        rare = self._rare  # read directly: this runs for every request
        if rare is not None:
            if rare.shutdown:
                request.keep_alive = False
            body = rare.body
            rare.body = None
        reply = self.router.handle(request, body if body else b"")
        self._request = None
        self.requests += 1
        self.stats.requests += 1
        if self.settings.tcp_cork:
            self._batch += 1
        if reply.whole is not None:
            self._queue(reply.whole)
        else:
            self._queue(reply.head)
            if reply.stream is not None:
                self._queue_stream(reply.stream)
            else:
                self._queue(reply.body)
        if not request.keep_alive:
            self._closing = True

    # -- output -------------------------------------------------------------------------

    def _queue(self, data: bytes) -> None:
        pending = self._pending
        if pending:
            pending.append(data)  # behind a lazy body: keep the order
            self._pending_bytes += len(data)
        elif not self._out:
            self._last_send = self._last_active  # the write timeout starts now
            self._out = data  # no copy: most responses go out whole from here
        else:
            out = self._out
            if type(out) is bytes:
                out = self._out = bytearray(out)
            out += data

    def _queue_stream(self, stream: Iterator[bytes]) -> None:
        if self._pending is None:
            self._pending = deque()
        self._pending.append(stream)

    def _fill(self) -> None:
        out = self._out
        if type(out) is not bytearray:
            out = self._out = bytearray(out)
        pending = self._pending
        assert pending is not None
        while pending and len(out) < FILL_TARGET:
            item = pending[0]
            if isinstance(item, bytes):
                out += item
                self._pending_bytes -= len(item)
                pending.popleft()
            else:
                chunk = next(item, None)
                if chunk is None:
                    pending.popleft()
                else:
                    out += chunk
        if not pending:
            self._pending = None

    def _progress(self, now: float) -> None:
        """Alternate parsing and sending until neither can move."""
        while True:
            if not self._need_data:
                self._parse()
                if self.close_reason is not None:
                    return
            if not (self._out or self._pending) or not self.can_send or self._write_left <= 0:
                return
            self._flush(now)
            if self.close_reason is not None:
                return
            if self._need_data or self._closing or self._input_done or self._backlogged():
                return

    def _flush(self, now: float) -> None:
        send = self.sock.send
        cork = False
        if self.settings.tcp_cork:
            cork = self._batch > 1
            self._batch = 0
        if cork and not self._setcork(1):
            return
        while True:
            if self._pending is not None and len(self._out) < FILL_TARGET:
                self._fill()
            out = self._out
            if not out or self._write_left <= 0:
                break
            try:
                sent = send(out)
            except BlockingIOError:
                self.can_send = False
                break
            except OSError as err:
                self._io_failed(err)
                return
            if sent == len(out):
                self._out = _NO_OUTPUT
            elif isinstance(out, bytearray):
                del out[:sent]
            else:
                self._out = bytearray(memoryview(out)[sent:])
            self.stats.bytes_out += sent
            self._write_left -= sent
            self._last_send = self._last_active = now
        if cork:
            self._setcork(0)

    def _setcork(self, on: int) -> bool:
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, on)
        except OSError as err:
            self._abort(close_reason_for(err))
            return False
        return True

    def _finish_if_done(self, now: float) -> None:
        """Close, or start the lingering close, once everything owed has been sent."""
        if self._out or self._pending or self._hangup:
            return
        input_over = self._input_done or (self._peer_eof and self._closing)
        # Stopping: unsent kernel buffers die with the process's network (a container's goes when
        # it exits), so linger until the client has read everything and closes.
        if input_over and not (self._shutdown and not self._peer_eof):
            self._abort(self._close_as or "eof")
        elif self._closing and not self._lingering:
            # Shut our side, then drain what the client still sends (the rest of a body,
            # pipelined requests) so that closing does not reset the response away.
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError as err:
                self._io_failed(err, self._close_as)
                return
            self._lingering = True
            if not self._shutdown:  # stopping keeps the stop deadline begin_shutdown set
                self._linger_deadline = now + min(self.settings.header_timeout, LINGER_MAX_SECONDS)
            self.can_recv = True

