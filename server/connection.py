"""One HTTP/1.1 connection: the protocol state machine over a non-blocking socket-like transport.

The event loop owns registration and closing. It calls ``handle_event`` (or ``run`` from its
ready list, or ``on_timeout``), then reads back ``close_reason``, ``event_mask()`` and
``deadline``. The transport is a real socket in the server and a fake one in the unit tests.
"""

from __future__ import annotations

import errno
import select
import socket
from collections import deque
from collections.abc import Iterator
from typing import Final, Protocol

from server.bugs import NONE, Bugs
from server.http import response
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
from server.routes import Router
from server.stats import Stats

RECV_SIZE: Final = 64 * 1024
READ_BUDGET: Final = 16  # recv calls per wakeup, so one fast client cannot starve the rest
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

    __slots__ = ("bugs", "edge", "header_timeout", "idle_timeout", "limits", "tcp_cork", "write_timeout")

    def __init__(
        self,
        edge: bool = False,
        header_timeout: float = 10.0,
        idle_timeout: float = 60.0,
        write_timeout: float = 30.0,
        limits: Limits | None = None,
        tcp_cork: bool = False,
        bugs: Bugs = NONE,
    ) -> None:
        self.edge = edge
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.write_timeout = write_timeout
        self.limits = limits or Limits()
        self.tcp_cork = tcp_cork
        self.bugs = bugs


def close_reason_for(err: OSError) -> str:
    return "reset" if err.errno in RESET_ERRNOS else "error"


class Connection:
    def __init__(self, sock: Transport, settings: Settings, router: Router, stats: Stats, now: float) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = ""  # for the log; set by the loop
        self.opened_at = now
        self.settings = settings
        self.router = router
        self.stats = stats
        bugs = settings.bugs
        self.bugs = bugs
        self.edge = settings.edge
        limits = settings.limits
        if bugs.unbounded_headers:  # BUG ZOO: unbounded_headers (no limit, rescanned every read)
            limits = Limits(1 << 62, 1 << 62, limits.max_body_bytes)
        self._parser = RequestParser(limits, rescan=bugs.unbounded_headers)
        self.close_reason: str | None = None  # set once; the loop then closes and forgets us
        self.registered_mask = 0  # what the loop last told epoll
        self.deadline: float | None = None  # for the timer heap
        self.heap_at: float | None = None
        self.in_ready = False  # on the loop's ready list (edge mode)
        self.can_recv = False  # edge mode: no EAGAIN seen since the last EPOLLIN
        self.can_send = True  # no EAGAIN seen since the last EPOLLOUT
        self.requests = 0
        self._out = bytearray()
        self._pending: deque[bytes | Iterator[bytes]] = deque()
        self._pending_bytes = 0
        self._batch = 0  # responses queued since the last flush (for TCP_CORK)
        self._write_left = WRITE_BUDGET
        self._need_data = True  # the parser is waiting for bytes
        self._request: Request | None = None
        self._body: list[bytes] | None = None
        self._peer_eof = False
        self._input_done = False  # end of input reached at a message boundary
        self._hangup = False
        self._closing = False  # close once the queued output is sent
        self._close_as: str | None = None  # reason to record for that close, else decided by how it ends
        self._lingering = False  # write side shut; draining input until the client closes
        self._linger_deadline = 0.0
        self._drained = 0
        self._shutdown = False
        self._fresh = True  # nothing received yet
        self._request_started = now
        self._last_recv = now
        self._last_send = now
        self._last_active = now
        self._update_deadline()

    # -- entry points for the loop ---------------------------------------------------------

    def handle_event(self, events: int, now: float) -> None:
        if events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR):
            self.can_recv = True
        if events & EPOLLOUT:
            self.can_send = True
        if events & (EPOLLHUP | EPOLLERR):
            # Through the read path: recv reports the reset or the end of input.
            self._hangup = True
            self.can_send = False  # nothing can be sent once both directions are shut
            self.run(now)
            if self.close_reason is None:
                self._abort("error" if events & EPOLLERR else "hup")
            return
        self.run(now)

    def run(self, now: float) -> None:
        """Do all the I/O that is possible now, within this wakeup's budgets."""
        self._write_left = WRITE_BUDGET
        recvs = 0
        while self.close_reason is None:
            self._progress(now)
            if self.close_reason is not None:
                return
            self._finish_if_done(now)
            if self.close_reason is not None:
                return
            if not (self.can_recv and (self._hangup or self._wants_input())) or recvs >= READ_BUDGET:
                break
            recvs += 1
            self._recv(now)
            # BUG ZOO: edge_single_recv (one recv per edge leaves the rest unread)
            if not self.edge or self.bugs.edge_single_recv:
                self.can_recv = False
        if self.close_reason is None:
            if not self.edge:
                self.can_recv = False  # level-triggered: epoll tells us again
            self._update_deadline()

    def on_timeout(self, now: float) -> None:
        if self._lingering:
            self._abort(self._close_as or "timeout")
        elif self._has_output():
            self._abort("timeout")  # stalled write
        elif self._parser.in_progress:
            self._fail(408, "timeout")
            self.run(now)
        else:
            self._abort("timeout")  # idle keep-alive, or connected and never sent anything
        if self.close_reason is None:
            self._update_deadline()

    def begin_shutdown(self, now: float) -> None:
        """Graceful stop: finish what is in flight, then close."""
        self._shutdown = True
        if not self._parser.in_progress and not self._has_output() and self._request is None:
            self._abort("eof")
            return
        if not self._parser.in_progress:
            self._closing = True
        self.run(now)

    def event_mask(self) -> int:
        mask = 0
        if self._wants_input():
            mask = EPOLLIN | EPOLLRDHUP
        if self._has_output():
            mask |= EPOLLOUT
        if self.edge:
            mask |= EPOLLET
        return mask

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
        return not self._parser.in_progress and not self._has_output()

    # -- state --------------------------------------------------------------------------

    def _has_output(self) -> bool:
        return bool(self._out) or bool(self._pending)

    def _backlogged(self) -> bool:
        return len(self._out) + self._pending_bytes >= HIGH_WATER or len(self._pending) >= MAX_PENDING

    def _wants_input(self) -> bool:
        if self._peer_eof:
            return False
        if self._lingering:
            return True
        return self._need_data and not self._closing and not self._backlogged()

    def _update_deadline(self) -> None:
        s = self.settings
        if self.bugs.no_timeouts:  # BUG ZOO: no_timeouts
            self.deadline = None
        elif self._lingering:
            self.deadline = self._linger_deadline
        elif self._has_output():
            self.deadline = self._last_send + s.write_timeout
        elif self._fresh or (self._parser.in_progress and self._parser.state not in BODY_STATES):
            self.deadline = self._request_started + s.header_timeout
        elif self._parser.in_progress:
            self.deadline = self._last_recv + s.header_timeout  # body: progress-based
        else:
            self.deadline = self._last_active + s.idle_timeout

    def _abort(self, reason: str) -> None:
        self.close_reason = reason
        self.deadline = None
        self._out = bytearray()
        self._pending.clear()
        self._body = None

    def _fail(self, status: int, reason: str) -> None:
        """Answer ``status`` and close once it is sent."""
        self._queue(response.error(status))
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
            if self.bugs.unguarded_io and err.errno in RESET_ERRNOS:  # BUG ZOO: unguarded_io
                raise
            self._abort(close_reason_for(err))
            return
        if not data:
            if self.bugs.no_eof_check:  # BUG ZOO: no_eof_check (b"" taken as "nothing yet")
                return
            self.can_recv = False
            self._peer_eof = True
            if self._lingering or self._closing:
                self._abort(self._close_as or "eof")
                return
            self._parser.receive_data(b"")
            self._need_data = False
            return
        n = len(data)
        self.stats.bytes_in += n
        self._last_recv = self._last_active = now
        if self._lingering:
            self._drained += n
            if self._drained > LINGER_MAX_BYTES:
                self._abort(self._close_as or "protocol")
            return
        if not self._parser.in_progress:
            self._request_started = now
        self._fresh = False
        self._parser.receive_data(data)
        self._need_data = False

    def _parse(self) -> None:
        parser = self._parser
        while not self._need_data and not self._closing and not self._input_done and not self._backlogged():
            try:
                event = parser.next_event()
            except IncompleteMessage:
                self._abort("eof")  # the client left mid-request: nobody to answer
                return
            except ProtocolError as err:
                self.stats.parse_errors += 1
                self._fail(err.status, "protocol")
                return
            if event is None:
                self._need_data = True
                return
            kind = type(event)
            if kind is Data:
                if self._body is not None:
                    self._body.append(event.data)  # type: ignore[union-attr]
            elif kind is Request:
                request: Request = event  # type: ignore[assignment]
                self._request = request
                self._body = [] if self.router.wants_body(request) else None
                if request.expect_continue:
                    self._queue(response.CONTINUE)
            elif kind is EndOfMessage:
                self._respond()
            elif kind is ConnectionClosed:
                self._input_done = True

    def _respond(self) -> None:
        request = self._request
        assert request is not None
        if self._shutdown:
            request.keep_alive = False
        body = b"".join(self._body) if self._body else b""
        reply = self.router.handle(request, body)
        self._request = None
        self._body = None
        self.requests += 1
        self.stats.requests += 1
        self._batch += 1
        if reply.stream is not None:
            self._queue(reply.head)
            self._pending.append(reply.stream)
        elif len(reply.body) <= FILL_TARGET:
            self._queue(reply.head + reply.body)
        else:
            self._queue(reply.head)
            self._queue(reply.body)
        if not request.keep_alive:
            self._closing = True

    # -- output -------------------------------------------------------------------------

    def _queue(self, data: bytes) -> None:
        if not self._out and not self._pending:
            self._last_send = self._last_active  # the write timeout starts now
        if self._pending:
            self._pending.append(data)
            self._pending_bytes += len(data)
        else:
            self._out += data

    def _fill(self) -> None:
        out = self._out
        pending = self._pending
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

    def _progress(self, now: float) -> None:
        """Alternate parsing and sending until neither can move."""
        self._last_active = max(self._last_active, now)
        while self.close_reason is None:
            self._parse()
            if self.close_reason is not None or not self._has_output():
                return
            if not self.can_send or self._write_left <= 0:
                return
            self._flush(now)
            if self._need_data or self._closing or self._input_done or self._backlogged():
                return

    def _flush(self, now: float) -> None:
        sock = self.sock
        cork = self.settings.tcp_cork and self._batch > 1
        self._batch = 0
        if cork and not self._setcork(1):
            return
        out = self._out
        while True:
            if len(out) < FILL_TARGET and self._pending:
                self._fill()
            if not out or self._write_left <= 0:
                break
            try:
                sent = sock.send(out)
            except BlockingIOError:
                self.can_send = False
                break
            except OSError as err:
                if self.bugs.unguarded_io and err.errno in RESET_ERRNOS:  # BUG ZOO: unguarded_io
                    raise
                self._abort(close_reason_for(err))
                return
            if self.bugs.ignore_send_count:  # BUG ZOO: ignore_send_count (assumes all was sent)
                sent = len(out)
            del out[:sent]
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
        if self._has_output() or self._hangup:
            return
        if self._input_done or (self._peer_eof and self._closing):
            self._abort(self._close_as or "eof")
        elif self._closing and not self._lingering:
            # Shut our side, then drain what the client still sends (the rest of a body,
            # pipelined requests) so that closing does not reset the response away.
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError as err:
                if self.bugs.unguarded_io and err.errno in RESET_ERRNOS:  # BUG ZOO: unguarded_io
                    raise
                self._abort(self._close_as or close_reason_for(err))
                return
            self._lingering = True
            self._linger_deadline = now + min(self.settings.header_timeout, LINGER_MAX_SECONDS)
            self.can_recv = True
