"""Performs one connection's steps on a real socket and records every operation."""

from __future__ import annotations

import errno
import select
import socket
import struct
import threading
import time
from collections.abc import Iterable

from clients.history import ArgValue, Op
from clients.http import ResponseReader
from clients.registry import ConnectionView
from clients.steps import (
    Close,
    ConnectOptions,
    Expect,
    Pause,
    ReadOnce,
    ReadResponses,
    ReadToEnd,
    Reset,
    Send,
    ShutdownWrite,
    Stall,
    Step,
)

RECV_BYTES = 65536
# A connection's history is kept in memory: past this many operations (a trickle with no pause for
# an hour) the connection ends as if its deadline had come.
MAX_OPS = 250_000
# tcpi_state values from include/net/tcp_states.h; the first byte of struct tcp_info.
TCP_STATES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
}


def error_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, type(exc).__name__)


class Connection:
    """One client connection: ``run(steps)`` returns the recorded operations."""

    def __init__(
        self,
        address: tuple[str, int],
        options: ConnectOptions,
        view: ConnectionView,
        *,
        origin: float,
        deadline: float,
        opening_gate: threading.Semaphore | None = None,
    ) -> None:
        self.address = address
        self.opening_gate = opening_gate  # bounds the run's connections still opening (clients.runner)
        self.options = options
        self.view = view
        self.origin = origin  # time.monotonic() at the start of the run: t = 0 in the history
        self.deadline = deadline
        self.ops: list[Op] = []
        self.sock: socket.socket | None = None
        self.finished = False  # closed by either side, failed, or out of time
        self.reader = ResponseReader()

    def run(self, steps: Iterable[Step]) -> list[Op]:
        """Connect and perform the steps. With an opening gate, the connection holds a place in it from before its
        connect until its first pause (or its end): what a flood holds open is paced, not what it holds."""
        gate = self.opening_gate
        if gate is not None and not gate.acquire(timeout=max(self._remaining(), 0.0)):
            gate = None  # out of time waiting for a place
        if self._remaining() <= 0:
            self._record("deadline")
            if gate is not None:
                gate.release()
            return self.ops
        try:
            if self._connect():
                for step in steps:
                    if gate is not None and isinstance(step, (Pause, Stall)):
                        gate.release()
                        gate = None
                    if self.finished:
                        break
                    if self._remaining() <= 0:
                        self._hit_deadline()
                        break
                    if len(self.ops) >= MAX_OPS:
                        self._record("deadline", reason="max_ops")
                        self._close()
                        break
                    self._perform(step)
                if not self.finished:  # a plan that ends without closing: close like any client
                    self._close()
        finally:
            if gate is not None:
                gate.release()
            if self.sock is not None:  # only after an exception escaped
                self.sock.close()
        return self.ops

    # -- bookkeeping ---------------------------------------------------------------------------------

    def _now(self) -> float:
        return round(time.monotonic() - self.origin, 6)

    def _remaining(self) -> float:
        return self.deadline - time.monotonic()

    def _record(
        self, kind: str, data: bytes | None = None, *, t: float | None = None, **args: ArgValue
    ) -> None:
        self.ops.append(Op(self._now() if t is None else t, kind, data, dict(args)))

    def _socket(self) -> socket.socket:
        assert self.sock is not None
        return self.sock

    def _fail(self, exc: OSError) -> None:
        self._record("error", name=error_name(exc))
        self._drop()

    def _hit_deadline(self) -> None:
        self._record("deadline")
        self._close()

    def _drop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.finished = True

    # -- steps ---------------------------------------------------------------------------------------

    def _perform(self, step: Step) -> None:
        match step:
            case Send(data):
                self._send(data)
            case Pause(seconds):
                self._pause(seconds)
            case Stall(seconds):
                self._stall(seconds)
            case ReadResponses(count):
                self._record("read", until="responses", count=count)
                target = self.view.responses_complete + count
                while not self.finished and self.view.responses_complete < target:
                    self._recv(RECV_BYTES)
            case ReadToEnd():
                self._record("read", until="end")
                while not self.finished:
                    self._recv(RECV_BYTES)
            case ReadOnce(max_bytes):
                self._record("read", until="once", max_bytes=max_bytes)
                self._recv(max_bytes)
            case ShutdownWrite():
                self._record("shutdown", how="SHUT_WR")
                try:
                    self._socket().shutdown(socket.SHUT_WR)
                except OSError as exc:
                    self._fail(exc)
            case Reset():
                self._record("reset")
                self._socket().setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self._drop()
            case Close():
                self._close()
            case Expect(body_len, body_sha256):
                self._record("expect", body_len=body_len, body_sha256=body_sha256)

    def _connect(self) -> bool:
        t = self._now()
        started = time.monotonic()
        try:
            family, kind, proto, _, address = socket.getaddrinfo(*self.address, type=socket.SOCK_STREAM)[0]
            self.sock = socket.socket(family, kind, proto)
            if self.options.rcvbuf_bytes is not None:  # before connect, so the window scale matches
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.options.rcvbuf_bytes)
            if self.options.nodelay:
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.settimeout(max(self._remaining(), 0.001))
            self.sock.connect(address)
        except TimeoutError:
            self._record("connect", t=t, nodelay=self.options.nodelay, rcvbuf_bytes=self.options.rcvbuf_bytes)
            self._hit_deadline()
            return False
        except OSError as exc:
            self._record("connect", t=t, nodelay=self.options.nodelay, rcvbuf_bytes=self.options.rcvbuf_bytes)
            self._fail(exc)
            return False
        self._record(
            "connect",
            t=t,
            nodelay=self.options.nodelay,
            rcvbuf_bytes=self.options.rcvbuf_bytes,
            connect_s=round(time.monotonic() - started, 6),
        )
        return True

    def _send(self, data: bytes) -> None:
        sock = self._socket()
        t = self._now()
        view = memoryview(data)
        sent = 0
        try:
            while sent < len(data):
                sock.settimeout(max(self._remaining(), 0.001))
                sent += sock.send(view[sent:])
        except TimeoutError:
            self._record("send", data[:sent], t=t)
            self._hit_deadline()
            return
        except OSError as exc:
            if sent:
                self._record("send", data[:sent], t=t)
            self._fail(exc)
            return
        self._record("send", data, t=t)

    def _recv(self, max_bytes: int) -> None:
        """One recv bounded by the deadline; records what came, end of input, or the error."""
        sock = self._socket()
        remaining = self._remaining()
        if remaining <= 0:
            self._hit_deadline()
            return
        sock.settimeout(remaining)
        try:
            data = sock.recv(max_bytes)
        except TimeoutError:
            self._hit_deadline()
            return
        except OSError as exc:
            self._fail(exc)
            return
        self._observe(data)

    def _observe(self, data: bytes) -> None:
        self._record("recv", data)
        self.view.bytes_received += len(data)
        self.view.responses_complete += len(self.reader.feed(data))
        if not data:
            self._drop()

    def _pause(self, seconds: float) -> None:
        self._record("pause", seconds=seconds)
        sock = self._socket()
        end = time.monotonic() + seconds
        while not self.finished:
            remaining = min(end, self.deadline) - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            try:
                data = sock.recv(RECV_BYTES)
            except TimeoutError:
                break
            except OSError as exc:
                self._fail(exc)
                return
            self._observe(data)
        if not self.finished and end > self.deadline:
            self._hit_deadline()

    def _stall(self, seconds: float) -> None:
        """Wait without reading; POLLRDHUP reports a peer FIN or RST without consuming data."""
        self._record("stall", seconds=seconds)
        poller = select.poll()
        poller.register(self._socket(), select.POLLRDHUP)
        end = time.monotonic() + seconds
        while True:
            remaining = min(end, self.deadline) - time.monotonic()
            if remaining <= 0:
                break
            if poller.poll(max(1, int(remaining * 1000))):
                sock = self._socket()
                info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
                state = TCP_STATES.get(info[0], str(info[0]))
                if not self.view.peer_closed:
                    self._record("peer_closed", state=state)
                    self.view.peer_closed = True
                if state == "CLOSE":  # a RST: nothing more can be read
                    pending = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if pending:
                        self._record("error", name=errno.errorcode.get(pending, str(pending)))
                    self._drop()
                return  # a FIN: the data before it can still be read
        if end > self.deadline:
            self._hit_deadline()

    def _close(self) -> None:
        self._record("close")
        self._drop()
