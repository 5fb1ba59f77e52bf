"""The epoll loop: accept, dispatch events, run the edge-mode ready list, fire timers, stop gracefully.

There is one registry of live connections (``conns``) and one close path (``_close``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import socket
import time
from collections import deque
from types import FrameType
from typing import Final

from server.config import Config
from server.connection import EPOLLET, EPOLLIN, Connection, Settings
from server.http.date import HttpDate
from server.http.parser import Limits
from server.log import EventLog
from server.routes import Router
from server.stats import Stats
from server.timers import TimerWheel

MAX_EVENTS: Final = 1024
ACCEPT_BUDGET: Final = 64  # accepts per wakeup
ACCEPT_PAUSE: Final = 0.1  # seconds to stop accepting when even the spare fd trick fails
_FD_EXHAUSTED: Final = frozenset({errno.EMFILE, errno.ENFILE})
_ACCEPT_TRANSIENT: Final = frozenset(
    {errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EINTR, errno.ENETDOWN, errno.EHOSTUNREACH}
)


def create_listener(host: str, port: int, backlog: int, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _open_spare() -> int | None:
    try:
        return os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


class Server:
    connection_class: type[Connection] = Connection  # a zoo variant's server names its own (server/bugs.py)
    accept_budget = ACCEPT_BUDGET

    def __init__(self, config: Config, listener: socket.socket, log: EventLog | None = None) -> None:
        self.config = config
        self.edge = config.edge
        self.stats = Stats(config.trigger, config.bug)
        self.date = HttpDate()  # one for the router and the connections' settings; ticked once per wakeup
        self.router = Router(self.stats.to_json, self.date)
        self.settings = Settings(
            edge=self.edge,
            header_timeout=config.header_timeout,
            idle_timeout=config.idle_timeout,
            write_timeout=config.write_timeout,
            limits=Limits(config.max_request_line, config.max_header_bytes, config.max_body_bytes),
            tcp_cork=config.tcp_cork,
            date=self.date,
        )
        self.log = log or EventLog(None)
        self.listener: socket.socket | None = listener
        self.listen_fd = listener.fileno()
        self.ep = select.epoll()
        self.conns: dict[int, Connection] = {}
        self.timers: TimerWheel[Connection] = TimerWheel()
        self.ready: deque[Connection] = deque()
        self._listener_ready = False  # edge mode: accept budget ran out before EAGAIN
        self._listen_mask = EPOLLIN | (EPOLLET if self.edge else 0)
        self._accept_paused_until: float | None = None
        self._spare = _open_spare()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._stop_requested = False
        self._stopping = False
        self._stop_deadline = 0.0
        self.ep.register(self.listen_fd, self._listen_mask)
        self.ep.register(self._wake_r.fileno(), EPOLLIN)

    # -- signals ------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop_requested = True  # the wakeup fd makes epoll return; the loop does the rest

    def request_stop(self) -> None:
        self._stop_requested = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # -- main loop ----------------------------------------------------------------------

    def serve(self) -> int:
        ep = self.ep
        conns = self.conns
        timers = self.timers
        listen_fd = self.listen_fd
        wake_fd = self._wake_r.fileno()
        now = time.monotonic()
        date_due = self.date.tick(now)
        try:
            while True:
                if self._stop_requested and not self._stopping:
                    self._begin_stop(now)
                if self._stopping and (not conns or now >= self._stop_deadline):
                    break
                events = ep.poll(self._poll_timeout(now), MAX_EVENTS)
                now = time.monotonic()
                if now >= date_due:  # a new wall-clock second: a new Date
                    date_due = self.date.tick(now)
                for fd, mask in events:
                    conn = conns.get(fd)
                    if conn is not None:
                        if not conn.handle_event(mask, now):  # True: the fast path changed nothing to sync
                            self._after(conn)
                    elif fd == listen_fd:
                        self._accept(now)
                    elif fd == wake_fd:
                        self._drain_wakeups()
                if self._listener_ready:
                    self._accept(now)
                if self.ready:
                    self._run_ready(now)
                deadline = timers.next_deadline()
                if deadline is not None and deadline <= now:
                    for conn in timers.pop_expired(now):
                        self._fire(conn, now)
                if self._accept_paused_until is not None and now >= self._accept_paused_until:
                    self._resume_accept()
        finally:
            self._close_all()
        return 0

    def _fire(self, owner: Connection, now: float) -> None:
        """A deadline came: time out its owner, unless that connection is already closed and forgotten."""
        if owner.close_reason is None and self.conns.get(owner.fd) is owner:
            owner.on_timeout(now)
            self._after(owner)

    def _poll_timeout(self, now: float) -> float:
        if self.ready or self._listener_ready:
            return 0.0
        deadline = self.timers.next_deadline()
        if self._accept_paused_until is not None:
            deadline = min(deadline or self._accept_paused_until, self._accept_paused_until)
        if self._stopping:
            deadline = min(deadline or self._stop_deadline, self._stop_deadline)
        if deadline is None:
            return -1
        return max(deadline - now, 0.0)

    def _after(self, conn: Connection) -> None:
        """Bring epoll, the timer wheel and the ready list in line with the connection's state."""
        if conn.close_reason is not None:
            self._close(conn)
            return
        mask = conn.mask
        if mask != conn.registered_mask:
            self.ep.modify(conn.fd, mask)
            conn.registered_mask = mask
        deadline = conn.deadline
        if deadline is not None and (conn.timer_at is None or deadline < conn.timer_at):
            self.timers.schedule(conn)  # only when it moved earlier: the common later move is free
        if self.edge and not conn.in_ready and conn.needs_another_turn():
            conn.in_ready = True
            self.ready.append(conn)

    def _run_ready(self, now: float) -> None:
        batch = self.ready
        self.ready = deque()
        for conn in batch:
            conn.in_ready = False
            if conn.close_reason is None and self.conns.get(conn.fd) is conn:
                conn.run(now)
                self._after(conn)

    def _close(self, conn: Connection) -> None:
        """The one close path: unregister, close, forget, count."""
        reason = conn.close_reason or "error"
        fd = conn.fd
        if self.conns.get(fd) is conn:
            del self.conns[fd]
        with contextlib.suppress(OSError):
            self.ep.unregister(fd)
        self._close_socket(conn)
        self.stats.closed[reason] += 1
        self.stats.open_connections -= 1
        if self.log.enabled:
            self.log.write(
                "close", fd=fd, peer=conn.peer, reason=reason, requests=conn.requests,
                duration_s=round(time.monotonic() - conn.opened_at, 6),
            )

    def _close_socket(self, conn: Connection) -> None:
        conn.sock.close()

    # -- accepting ----------------------------------------------------------------------

    def _accept(self, now: float) -> None:
        self._listener_ready = False
        listener = self.listener
        if listener is None or self._accept_paused_until is not None:
            return
        for _ in range(self.accept_budget):
            try:
                sock, addr = listener.accept()
            except BlockingIOError:
                return
            except OSError as err:
                if err.errno in _FD_EXHAUSTED:
                    if not self._shed_one(now):
                        return
                    continue
                if err.errno in _ACCEPT_TRANSIENT:
                    continue
                self._pause_accept(now)  # ENOBUFS, ENOMEM: back off instead of spinning
                return
            self._add(sock, addr, now)
        self._accept_budget_spent()

    def _accept_budget_spent(self) -> None:
        """The budget ran out with accepts perhaps left in the backlog: epoll tells level mode again, but no new
        edge comes in edge mode, so the loop comes back for them itself."""
        self._listener_ready = self.edge

    def _add(self, accepted: socket.socket, addr: object, now: float) -> None:
        # The connection keeps the plain C socket (socket.SocketType, 48 B) rather than the
        # socket.socket wrapper (88 B, for makefile and weak references, which it never uses).
        # Family, type and proto are passed on, so this costs no syscall.
        sock = socket.SocketType(accepted.family, accepted.type, accepted.proto, accepted.detach())
        sock.setblocking(False)
        if self.config.tcp_nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = self.connection_class(sock, self.settings, self.router, self.stats, now)
        if self.log.enabled:  # only then: the log's fields live in the connection's RareState
            conn.opened_at = now
            if isinstance(addr, tuple):
                conn.peer = f"{addr[0]}:{addr[1]}"
        self.conns[conn.fd] = conn
        self.stats.accepted += 1
        self.stats.open_connections += 1
        mask = conn.event_mask()
        self.ep.register(conn.fd, mask)
        conn.registered_mask = mask
        self.timers.schedule(conn)
        if self.log.enabled:
            self.log.write("accept", fd=conn.fd, peer=conn.peer)
        if self._stopping:
            conn.begin_shutdown(now)
            self._after(conn)

    def _shed_one(self, now: float) -> bool:
        """Out of fds: free the spare, accept and close one pending connection, take the spare back.

        Without this, a level-triggered listener with a full backlog spins at 100% CPU.
        """
        listener = self.listener
        assert listener is not None
        if self._spare is None:
            self._spare = _open_spare()
        if self._spare is None:
            self._pause_accept(now)
            return False
        os.close(self._spare)
        self._spare = None
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            sock = None  # nothing left to shed
        except OSError:
            self._spare = _open_spare()
            self._pause_accept(now)  # still out of fds: back off instead of spinning
            return False
        if sock is not None:
            sock.close()  # before taking the spare back: it needs the slot this socket used
        self._spare = _open_spare()
        if sock is None:
            return False
        self.stats.accepted += 1
        self.stats.closed["error"] += 1
        if self.log.enabled:
            self.log.write("shed", reason="fd limit")
        return True

    def _pause_accept(self, now: float) -> None:
        if self._accept_paused_until is None:
            self.ep.modify(self.listen_fd, 0)
        self._accept_paused_until = now + ACCEPT_PAUSE

    def _resume_accept(self) -> None:
        self._accept_paused_until = None
        if self.listener is not None:
            self.ep.modify(self.listen_fd, self._listen_mask)

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    # -- graceful stop ------------------------------------------------------------------

    def _begin_stop(self, now: float) -> None:
        """Stop accepting; let in-flight requests finish until the deadline; close idle connections."""
        self._stopping = True
        self._stop_deadline = now + self.config.shutdown_deadline
        if self.log.enabled:
            self.log.write("stopping", open_connections=len(self.conns))
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.ep.unregister(self.listen_fd)
            self.listener.close()
            self.listener = None
            self._listener_ready = False
        for conn in list(self.conns.values()):
            conn.begin_shutdown(now, self._stop_deadline)
            self._after(conn)

    def _close_all(self) -> None:
        for conn in list(self.conns.values()):
            conn.close_reason = conn.close_reason or "timeout"
            self._close(conn)
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None
        self.ep.close()
        self._wake_r.close()
        self._wake_w.close()

