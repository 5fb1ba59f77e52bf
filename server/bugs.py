"""The bug zoo: classic event-loop server mistakes, one per variant, selected with --bug NAME.

One table (``TABLE``) lists every variant: its name, what goes wrong, where real servers shipped
the same mistake, and how it is put into the server. Every variant is a subclass of a clean class,
overriding the methods its mistake lives in:

- a subclass of ``Connection`` (``connection``); a parser variant's makes its parser of the variant's
  class (``_OwnParser``), and ignore_send_count's sees its socket through ``_CountBlindSocket``;
- a mixin in front of ``Server`` (``server``), for a mistake in how the loop accepts, waits (its epoll
  timeout, a blocking call between waits) or keeps its books (which connection a timer fires on,
  what it keeps per accept, how it closes);
- a process layout (``supervised``): ``python -m server`` runs a supervisor that respawns its worker.

``server_class(name)`` is the variant's server (``Server.connection_class`` names its connections).

The clean server never imports this module (config and ``python -m server`` do, only for ``--bug``); it
carries no switch for any variant. The keep-alive fast path (``Connection._quick``) is shared: a
variant takes it like the clean server, so a mistake in it, or in a method it calls, is exercised
there too. The fast path sets the idle deadline inline (no call per request), so the variants that
get that deadline wrong apply their rule after it as after ``_settle``. A parser variant needs no
hook there: the fast path's quick parse takes only what the clean rules accept, in one read, and
hands everything else to the connection's own parser.
"""

from __future__ import annotations

import errno
import select
import socket
from dataclasses import dataclass
from time import monotonic, sleep
from typing import ClassVar, Final

from server.connection import Connection, Settings, Transport
from server.http.parser import DONE, IDLE, Event, Limits, ProtocolError, RequestParser
from server.loop import Server
from server.routes import Router
from server.stats import Stats

_EPOLLOUT: Final = select.EPOLLOUT
_HANGUP: Final = select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR
_BETWEEN_REQUESTS: Final = (IDLE, DONE)
_RESET_ERRNOS: Final = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN, errno.ECONNABORTED})


# -- parser variants --------------------------------------------------------------------------------


class RescanningParser(RequestParser):
    """unbounded_headers: every read searches the whole head again (quadratic in its size)."""

    __slots__ = ()

    def receive_data(self, data: bytes) -> None:
        super().receive_data(data)
        self._scan = self._pos  # forget where the last search stopped


class HostBlindParser(RequestParser):
    """no_host_check: Host is neither required, nor counted, nor validated."""

    __slots__ = ()

    @staticmethod
    def _check_host(host: bytes | None, hosts: int, version: str) -> str | None:
        return None if host is None else host.decode("latin-1")


# -- connection variants (subclasses of Connection) ----------------------------------------------------


class _OwnParser(Connection):
    """A parser variant's connection: each request's parser is of the variant's class."""

    __slots__ = ()
    parser_class: ClassVar[type[RequestParser]] = RequestParser

    def _new_parser(self) -> RequestParser:
        parser = self._parser = self.parser_class(self.settings.limits)
        return parser


class _UnboundedHeaders(_OwnParser):
    __slots__ = ()
    parser_class = RescanningParser

    def _new_parser(self) -> RequestParser:
        limits = Limits(1 << 62, 1 << 62, self.settings.limits.max_body_bytes)  # no limit on the head
        parser = self._parser = self.parser_class(limits)
        return parser


class _HostBlind(_OwnParser):
    __slots__ = ()
    parser_class = HostBlindParser


class _NoTimeouts(Connection):
    __slots__ = ()

    def _settle(self) -> None:
        super()._settle()
        self.deadline = None

    def _quick(self, now: float) -> bool:
        super()._quick(now)
        self.deadline = None
        return False  # the deadline changed: the loop brings its timer in line


class _IdleRule(Connection):
    """A variant with its own keep-alive deadline, applied after _settle and after the fast path."""

    __slots__ = ()

    def _idle_deadline(self) -> float | None:
        raise NotImplementedError

    def _apply_idle_rule(self) -> None:
        if self.close_reason is None and not (
            self._lingering or self._out or self._pending or self._fresh or self._in_request()
        ):
            self.deadline = self._idle_deadline()

    def _settle(self) -> None:
        super()._settle()
        self._apply_idle_rule()

    def _quick(self, now: float) -> bool:
        super()._quick(now)
        self._apply_idle_rule()
        return False  # the deadline changed: the loop brings its timer in line


class _NoEofCheck(Connection):
    __slots__ = ()

    def _received(self, data: bytes, now: float) -> None:
        if data:  # b"" (end of input) is taken as "nothing yet"
            super()._received(data, now)


class _EdgeSingleRecv(Connection):
    __slots__ = ()

    def _received(self, data: bytes, now: float) -> None:
        super()._received(data, now)
        self.can_recv = False  # one recv per edge: what is left waits for an edge that may never come


class _CountBlindSocket:
    """ignore_send_count's view of its socket: send() is taken to have sent all it was given."""

    __slots__ = ("_sock",)

    def __init__(self, sock: Transport) -> None:
        self._sock = sock

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def recv(self, bufsize: int, /) -> bytes:
        return self._sock.recv(bufsize)

    def send(self, data: bytes | bytearray | memoryview, /) -> int:
        self._sock.send(data)  # its count ignored
        return len(data)

    def shutdown(self, how: int, /) -> None:
        self._sock.shutdown(how)

    def setsockopt(self, level: int, optname: int, value: int, /) -> None:
        self._sock.setsockopt(level, optname, value)

    def getsockopt(self, level: int, optname: int, /) -> int:
        return self._sock.getsockopt(level, optname)


class _IgnoreSendCount(Connection):
    """The send count is ignored wherever the connection sends (slow path and fast path): the mistake sits
    at the transport's send, so the clean connection pays no call per send for it."""

    __slots__ = ()

    def __init__(self, sock: Transport, settings: Settings, router: Router, stats: Stats, now: float) -> None:
        super().__init__(_CountBlindSocket(sock), settings, router, stats, now)


class _PipelineDrop(Connection):
    __slots__ = ()

    def _respond(self) -> None:
        super()._respond()
        parser = self._parser  # the read buffer is "reset" after each request, whatever it still held
        if parser is not None:
            parser._buf = b""
            parser._pos = parser._scan = 0


class _EpolloutIdle(Connection):
    __slots__ = ()

    def event_mask(self) -> int:
        return super().event_mask() | _EPOLLOUT  # writability wanted even with nothing to write


class _HupClosesNow(Connection):
    __slots__ = ()

    def handle_event(self, events: int, now: float) -> bool:
        if events & _HANGUP:
            self._abort("hup")  # without reading what the peer sent before its FIN
            return False
        return super().handle_event(events, now)


class _IdleFromAccept(_IdleRule):
    __slots__ = ()

    def __init__(self, sock: Transport, settings: Settings, router: Router, stats: Stats, now: float) -> None:
        super().__init__(sock, settings, router, stats, now)
        self.opened_at = now  # the clean server sets it only for the event log

    def _idle_deadline(self) -> float | None:
        return self.opened_at + self.settings.idle_timeout


class _NoIdleTimeout(_IdleRule):
    __slots__ = ()

    def _idle_deadline(self) -> float | None:
        return None  # a kept-alive connection waits for its client forever


class _QuickKeepsDeadline(Connection):
    """quick_stale_deadline: the fast path answers without moving the keep-alive deadline."""

    __slots__ = ()

    def _quick(self, now: float) -> bool:
        deadline = self.deadline
        if super()._quick(now):  # answered by the fast path alone (or nothing was there)
            self.deadline = deadline  # where the last slow-path request left it
            return True
        return False


class _NoBackpressure(Connection):
    __slots__ = ()

    def _backlogged(self) -> bool:
        return False

    def _wants_input(self) -> bool:
        if self._peer_eof:
            return False
        return self._lingering or (self._need_data and not self._closing)


class _NoLinger(Connection):
    __slots__ = ()

    def _finish_if_done(self, now: float) -> None:
        if self._closing and not (self._out or self._pending or self._hangup):
            self._abort(self._close_as or "eof")  # close() with the rest of the request unread: RST
            return
        super()._finish_if_done(now)


class ChunkList(bytearray):
    """chunk_list: the body kept as a list of the chunks it arrived in (an object per chunk)."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []

    def __iadd__(self, data: object) -> ChunkList:
        assert isinstance(data, bytes)
        self.chunks.append(data)
        return self

    def __len__(self) -> int:
        return sum(map(len, self.chunks))

    def __bytes__(self) -> bytes:
        return b"".join(self.chunks)


class _ChunkListBody(Connection):
    __slots__ = ()

    def _new_body(self) -> bytearray:
        return ChunkList()


class _HeadErrorBody(Connection):
    __slots__ = ()

    def _fail(self, status: int, reason: str, head_only: bool = False) -> None:
        super()._fail(status, reason, False)


class _FinWaitsForIdleTimer(Connection):
    __slots__ = ()

    def _received(self, data: bytes, now: float) -> None:
        between_requests = not (self._fresh or self._in_request() or self._request is not None or self._has_output()
                                or self._closing or self._lingering)
        if not data and between_requests:
            # End of input is looked for only while a request is read: between requests it is noted (no more
            # reads, so level mode does not spin on it) and left to the idle timer, the socket in CLOSE_WAIT.
            self._peer_eof = True
            self.can_recv = False
            return
        super()._received(data, now)


# -- the third zoo (issue 21) -------------------------------------------------------------------------


class HeadFirstParser(RequestParser):
    """transient_peak: the read path drains everything into one buffer until the head is complete (or the input
    ends), and only then parses it: a fast sender's 64 MiB header is held whole before the 431, then freed."""

    __slots__ = ("_held",)

    def __init__(self, limits: Limits | None = None) -> None:
        super().__init__(limits)
        self._held: list[bytes] = []  # the reads so far, joined once the head is complete

    def receive_data(self, data: bytes) -> None:
        held = self._held
        if data and not held and not (self.state in _BETWEEN_REQUESTS and not self.buffered):
            super().receive_data(data)  # a body, or behind a pipelined request: parsed as it comes
            return
        if data:
            seam = held[-1][-3:] if held else b""  # the terminator may straddle two reads
            held.append(data)
            if (seam + data).find(b"\r\n\r\n") < 0:
                return  # no limit checked while the head is incomplete
        self._held = []
        if held:
            super().receive_data(b"".join(held))
        if not data:
            super().receive_data(b"")

    def next_event(self) -> Event | None:
        try:
            return super().next_event()
        except ProtocolError as err:
            self._buf = b""  # the rejected head is dropped at once: the peak is transient
            self._pos = self._scan = 0
            raise err.with_traceback(None) from None  # (the kept error's frames would hold the head)

    @property
    def in_progress(self) -> bool:
        return bool(self._held) or super().in_progress

    @property
    def at_rest(self) -> bool:
        return not self._held and super().at_rest


class _HeadFirst(_OwnParser):
    __slots__ = ()
    parser_class = HeadFirstParser


class _TimerKeptOnClose(Connection):
    """stale_timer, the connection's half: closing leaves its deadline armed (the timer entry is not cancelled)."""

    __slots__ = ()

    def _abort(self, reason: str) -> None:
        deadline = self.deadline
        super()._abort(reason)
        self.deadline = deadline


class _FdKeyedTimers(Server):
    """stale_timer, the loop's half: a timer names its connection by fd, so a stale one fires on whichever
    connection holds that fd now."""

    def _fire(self, owner: Connection, now: float) -> None:
        conn = self.conns.get(owner.fd)
        if conn is not None and conn.close_reason is None:
            conn.on_timeout(now)
            self._after(conn)


# -- server variants (subclasses of the loop's Server) ------------------------------------------------

POLL_S: Final = 0.001  # poll_1ms: the loop's wakeup period
STALL_EVERY_S: Final = 2.0  # periodic_stall: how often the loop blocks
STALL_S: Final = 0.5  # periodic_stall: for how long


class _FlooredTimeout(Server):
    def _poll_timeout(self, now: float) -> float:
        timeout = super()._poll_timeout(now)
        return timeout if timeout < 0 else float(int(timeout))  # whole seconds: under 1 s left polls with 0


class _Poll1ms(Server):
    def _poll_timeout(self, now: float) -> float:
        timeout = super()._poll_timeout(now)
        return POLL_S if timeout < 0 or timeout > POLL_S else timeout  # never blocks longer than 1 ms


class _PeriodicStall(Server):
    _stall_due: float | None = None  # the first is STALL_EVERY_S after the loop's first wait

    def _poll_timeout(self, now: float) -> float:
        due = self._stall_due
        if due is None:
            due = now + STALL_EVERY_S
        elif now >= due:
            sleep(STALL_S)  # the periodic housekeeping call that blocks the loop (a synchronous flush)
            now = monotonic()
            due = now + STALL_EVERY_S
        self._stall_due = due
        timeout = super()._poll_timeout(now)
        return due - now if timeout < 0 else min(timeout, due - now)  # woken for the next one, as by a timer


class _LeakOnDisconnect(Server):
    leaked: list[Transport]

    def _close_socket(self, conn: Connection) -> None:
        self.__dict__.setdefault("leaked", []).append(conn.sock)  # forgotten, never closed


class _AcceptOnce(Server):
    accept_budget = 1

    def _accept_budget_spent(self) -> None:
        pass  # edge mode: the rest of the backlog waits for a new connection's edge


class _EmfileIgnored(Server):
    def _shed_one(self, now: float) -> bool:
        return False  # EMFILE swallowed: the listener stays readable, so level mode spins


ACCEPT_RECORD_BYTES: Final = 1024


class _AcceptHistory(Server):
    """leak_per_connection: a 1 KiB record of every connection ever accepted (peer, time), never trimmed."""

    accept_history: list[bytes]

    def _add(self, accepted: socket.socket, addr: object, now: float) -> None:
        super()._add(accepted, addr, now)
        history = self.__dict__.setdefault("accept_history", [])
        history.append(f"{now:.6f} accepted {addr!r}".encode().ljust(ACCEPT_RECORD_BYTES, b" "))


class _UnguardedIo(Connection):
    """unguarded_io, and worker_respawn's worker: ECONNRESET, EPIPE or ENOTCONN escapes the loop and kills it."""

    __slots__ = ()

    def _io_failed(self, err: OSError, reason: str | None = None) -> None:
        if err.errno in _RESET_ERRNOS:
            raise err
        super()._io_failed(err, reason)


# The first zoo (issue 6) was built from the textbook list of epoll mistakes; a source is given where
# one was checked, else ORIGINAL says so.
ORIGINAL: Final = "first zoo (issue 6): textbook epoll mistake, no single source checked"

# -- the table ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str
    source: str  # where a real server shipped the same mistake
    connection: type[Connection] | None = None  # the variant's connection class
    server: type[Server] | None = None  # a mixin put in front of Server (the loop's mistake)
    supervised: bool = False  # python -m server forks one worker and respawns it whenever it dies


TABLE: Final = (
    Variant("no_eof_check", "recv returning b'' is not treated as end of input: CPU spin and CLOSE_WAIT",
            "nodejs/node#11307 (100% CPU with sockets idling in CLOSE_WAIT)", connection=_NoEofCheck),
    Variant("leak_on_disconnect", "closed connections are unregistered but their sockets never closed",
            ORIGINAL, server=_LeakOnDisconnect),
    Variant("unguarded_io", "ECONNRESET/EPIPE/ENOTCONN from recv, send and shutdown crash the server",
            ORIGINAL, connection=_UnguardedIo),
    Variant("ignore_send_count", "send()'s return value is ignored: large responses to slow readers are truncated",
            ORIGINAL, connection=_IgnoreSendCount),
    Variant("unbounded_headers", "no header size limit, and the whole buffer is rescanned on every read",
            ORIGINAL, connection=_UnboundedHeaders),
    Variant("no_timeouts", "no header, idle or write timeouts",
            ORIGINAL, connection=_NoTimeouts),
    Variant("edge_single_recv", "edge-triggered mode reads once per event instead of until EAGAIN",
            "memcached/memcached#476 (edge-triggered: act only after EAGAIN)", connection=_EdgeSingleRecv),
    Variant("emfile_ignored", "EMFILE on accept is caught and ignored: the loop spins",
            "sozu-proxy/sozu#82 (listener stays readable when no fd is left: CPU load for nothing)",
            server=_EmfileIgnored),
    # -- the second zoo (issue 10) ------------------------------------------------------------------
    Variant("pipeline_drop", "the read buffer is emptied after each request: pipelined requests are lost",
            "yhirose/cpp-httplib#1271 (pipelined requests dropped if in the same TCP frame); "
            "warmcat/libwebsockets#638 (rx buffer cleared after the first pipelined request)",
            connection=_PipelineDrop),
    Variant("epollout_idle", "EPOLLOUT stays registered with nothing to send: level mode wakes up forever",
            "libuv/libuv#3671 (uv__drain does not stop POLLOUT: 100% CPU; fixed by libuv#3675); "
            "obgm/libcoap#551 (EPOLLOUT left enabled after connect: spin)",
            connection=_EpolloutIdle),
    Variant("accept_once", "one accept per listener event: edge mode leaves the rest of the backlog waiting",
            "tokio-rs/mio#845 (edge-triggered listener, one accept per event: connections not accepted); "
            "memcached/memcached#476", server=_AcceptOnce),
    Variant("hup_closes_now", "EPOLLRDHUP/HUP closes at once without reading or answering what was sent",
            "netty/netty#3729 (read all pending data when EPOLLRDHUP is received, else data is lost); "
            "netty/netty#4325 (EPOLLRDHUP and EPOLLIN together)",
            connection=_HupClosesNow),
    Variant("idle_from_accept", "the keep-alive deadline runs from accept, not from the last activity",
            "sanic-org/sanic#128 (requests forcibly closed 60 s after the connection opens); "
            "http-kit/http-kit#481 (connect timeout instead of idle timeout on a reused connection)",
            connection=_IdleFromAccept),
    Variant("no_idle_timeout", "kept-alive connections have no idle deadline: a peer that vanishes stays forever",
            "arangodb/arangodb#131 (keep-alive connections stay open forever if the client sends no close); "
            "scylladb/seastar#3130 (peers dropped silently by load balancers leave connections established "
            "forever); leanprover/lean4#15041 (idle keep-alive timeout not scheduled)",
            connection=_NoIdleTimeout),
    Variant("no_backpressure", "reads and queues responses however much output is waiting: memory grows",
            "spray/spray-can#23 (stop reading at a pipelining limit: back pressure); "
            "anmonteiro/httpun#40 (no read back pressure: out of memory)",
            connection=_NoBackpressure),
    Variant("no_linger", "close() right after an error response while the body still arrives: RST, not the 4xx",
            "cherrypy/cherrypy#622 (client may not receive output if the request body is not read); "
            "libevent/libevent#321 (max body size and reset connections); rwf2/Rocket#2783",
            connection=_NoLinger),
    Variant("chunk_list", "a chunked body kept as a list of chunk objects: 2-byte chunks cost ~20x the body",
            "apache/pekko-http#1195 (millions of 1-byte chunks); h2o/picohttpparser#81; "
            "epoll-lab issue 10 (this server: 2 MB body in 2-byte chunks, 19.8 -> 55.6 MiB)",
            connection=_ChunkListBody),
    Variant("no_host_check", "HTTP/1.1 without Host, two Hosts or an invalid Host are served (RFC 9112 3.2)",
            "golang/go#13624; nodejs/node#39033; aspnet/KestrelHttpServer#839 (requests without Host accepted)",
            connection=_HostBlind),
    Variant("head_error_body", "error responses to HEAD carry a body (RFC 9110 9.3.2)",
            "h2o/h2o#300 (HEAD response has a body, 404 included); nghttp2/nghttp2#2144 "
            "(nghttpx: no error body for HEAD); arangodb/arangodb#193",
            connection=_HeadErrorBody),
    # -- the third zoo (issue 21): loop-level mistakes for the whole-case checks -------------------------
    Variant("floored_timeout", "the epoll timeout is floored to whole seconds: with under 1 s left the loop polls "
            "with timeout 0 and spins until the deadline",
            "wolfSSL/wolfssljni#67 (select timeout set in whole seconds only: sub-second timeouts become 0); "
            "python/asyncio#106 and tornadoweb/tornado#978 (bpo-20311: epoll timeout truncated to ms, the loop "
            "spins until the timer is due); smol-rs/smol#109 and tokio-rs/mio#1615 (the same truncation)",
            server=_FlooredTimeout),
    Variant("poll_1ms", "the loop wakes every 1 ms instead of blocking until an event or a deadline",
            "netdata/netdata#3308 (its web server's poll() timeout of 1 meant as 1 s is 1 ms: CPU while idle); "
            "warmcat/libwebsockets#1056 (lws_service with a 2 ms timeout: 500 wakeups/s)",
            server=_Poll1ms),
    Variant("periodic_stall", "the loop blocks 0.5 s every 2 s (a synchronous flush on a periodic timer)",
            "mavlink-router/mavlink-router#176 (fsync() once per second blocks the main loop); "
            "huggingface/agent-manager#45 (a synchronous directory walk on a timer freezes the server every "
            "~20 s); tya5/reyn#1751 (os.fsync in the asyncio loop)",
            server=_PeriodicStall),
    Variant("fin_waits_for_idle_timer", "a FIN between requests is not acted upon: the idle keep-alive connection "
            "sits in CLOSE_WAIT until its idle timer fires",
            "boostorg/beast#2145 (server sockets in CLOSE_WAIT until the stream timeout when a browser closes an "
            "idle keep-alive connection); http-kit/http-kit#325 (a kept-alive connection's FIN answered only "
            "when its timeout elapses)",
            connection=_FinWaitsForIdleTimer),


    # -- the third zoo (issue 21) -------------------------------------------------------------------
    Variant("stale_timer", "a closed connection's deadline is not cancelled and timers name connections by fd: "
            "it fires on the next connection that gets the same fd",
            "vert-x3/vertx-web#2727 (timeout timer not cleared when the connection closes); zeromq/jeromq#534 "
            "(a closed socket's timer still fires); housleyjk/ws-rs#242 (a timeout left active after close)",
            connection=_TimerKeptOnClose, server=_FdKeyedTimers),
    Variant("leak_per_connection", "a 1 KiB record of every connection ever accepted is kept: memory grows with "
            "connections served, not held",
            "programatik29/axum-server#13 (a list of connections grows on every accept and is never cleared: "
            "~1 GB after 500,000 requests)",
            server=_AcceptHistory),
    Variant("worker_respawn", "a supervisor forks one worker; a client's reset kills the worker (as unguarded_io) "
            "and the supervisor respawns it, so the container stays up",
            "uqee/sticky-cluster#20 (read ECONNRESET kills the spawned worker, which is restarted); "
            "eventbrite/pysoa#179 (crashed workers respawned, as uWSGI and Apache do)",
            connection=_UnguardedIo, supervised=True),
    Variant("transient_peak", "the head is buffered whole before it is parsed: a 64 MiB header is held, then "
            "rejected and freed within a fraction of a second",
            "hyperium/hyper#256 (many headers consume memory before the request can be rejected); "
            "openwrt/uhttpd#33 (header bytes appended to a buffer with no cumulative cap)",
            connection=_HeadFirst),
    # -- issue 23: a mistake in the keep-alive fast path, which every variant now shares ------------------
    Variant("quick_stale_deadline", "the keep-alive fast path answers without moving the idle deadline: a "
            "connection busy with quick requests is cut off idle_timeout after its last slow-path one",
            "javaee/grizzly#1843 (a keep-alive connection in use closed by the keep-alive timeout); "
            "valyala/fasthttp#321 (keep-alive expiry from a coarse, stale timestamp: a request just before it "
            "fails)", connection=_QuickKeepsDeadline),
)
BY_NAME: Final = {variant.name: variant for variant in TABLE}
BUGS: Final = {variant.name: variant.summary for variant in TABLE}


def variant(name: str) -> Variant:
    if name not in BY_NAME:
        raise ValueError(f"unknown bug {name!r}; known: {', '.join(BY_NAME)}")
    return BY_NAME[name]


def connection_class(name: str) -> type[Connection]:
    """The variant's subclass of ``Connection``, or ``Connection`` itself for a mistake of the loop's."""
    return variant(name).connection or Connection


def server_class(name: str) -> type[Server]:
    """The variant's server: its mixin (if any) in front of ``Server``, making its connections."""
    chosen = variant(name)
    bases: tuple[type[Server], ...] = (Server,) if chosen.server is None else (chosen.server, Server)
    return type(f"{name.title().replace('_', '')}Server", bases, {"connection_class": connection_class(name)})
