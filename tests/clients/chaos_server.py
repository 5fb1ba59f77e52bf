"""An in-process recording server on 127.0.0.1 for the client tests.

Every accepted connection runs a handler in its own thread; the server records each ``recv`` as it
returned (the read boundaries), how input ended (eof, ECONNRESET, timeout), and what writing did.
Tests wait for recorded facts with ``wait_for`` (a condition with a deadline), never with sleeps.
"""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from clients.history import RunHistory, summarize
from clients.http import byte_pattern
from clients.runner import parse_target, run_behaviour

# Linux's SO_TIMESTAMPNS (= SCM_TIMESTAMPNS, asm-generic value; the socket module lacks the name):
# each recvmsg carries the arrival time of its first segment as a struct timespec.
SO_TIMESTAMPNS = 35
TIMESPEC = struct.Struct("qq")
WAIT_S = 10.0  # default bound for every wait in the tests
HELLO = b"hello, epoll\n"  # spelled out here so the tests do not trust the client's own constant


@dataclass
class ServerConnection:
    sock: socket.socket
    changed: threading.Condition
    chunks: list[bytes] = field(default_factory=list)
    chunk_times: list[float] = field(default_factory=list)  # time.monotonic() when each recv returned
    # When the kernel received each chunk's first segment (wall clock): unlike chunk_times, not delayed
    # when this thread is scheduled late, so gaps between them are the client's pauses.
    arrival_times: list[float] = field(default_factory=list)
    returned_times: list[float] = field(default_factory=list)  # wall clock when each recv returned
    end: str | None = None  # how input ended: eof, ECONNRESET, timeout
    timed_out: bool = False  # the http handler gave up waiting for a request
    write_error: str | None = None
    bytes_written: int = 0
    write_stalls: int = 0  # times a non-blocking write found the send buffer full
    stalled_at: int | None = None  # bytes written when a write stalled for good
    wrote_after_eof: bool = False
    gave_up_at: float | None = None  # time.monotonic() when the handler gave up on a stalled write
    closed: bool = False  # the handler has finished and closed its socket

    def received(self) -> bytes:
        return b"".join(self.chunks)

    def _note(self, **changes: object) -> None:
        with self.changed:
            for name, value in changes.items():
                setattr(self, name, value)
            self.changed.notify_all()

    def read(self, timeout: float) -> bytes | None:
        """One recv: the chunk, b"" at end of input (eof or reset), None on timeout."""
        self.sock.settimeout(timeout)
        try:
            data, ancillary, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(TIMESPEC.size))
        except (TimeoutError, BlockingIOError):  # BlockingIOError: timeout 0 and nothing queued
            return None
        except OSError as exc:
            self._note(end=errno.errorcode.get(exc.errno or 0, "error"))
            return b""
        with self.changed:
            if data:
                self.chunks.append(data)
                self.chunk_times.append(time.monotonic())
                self.arrival_times.append(_kernel_timestamp(ancillary))
                self.returned_times.append(time.time())
            else:
                self.end = "eof"
            self.changed.notify_all()
        return data

    def read_to_end(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.end is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.read(remaining) is None:
                self._note(end="timeout")

    def write(self, data: bytes) -> bool:
        try:
            self.sock.settimeout(WAIT_S)
            self.sock.sendall(data)
        except OSError as exc:
            self._note(write_error=errno.errorcode.get(exc.errno or 0, "error"))
            return False
        self._note(bytes_written=self.bytes_written + len(data), wrote_after_eof=self.end == "eof")
        return True

    def reset(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


Handler = Callable[[ServerConnection], None]


class RecordingServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.changed = threading.Condition()
        self.connections: list[ServerConnection] = []
        self.open_now = 0
        self.most_open = 0  # the most connections open at the same time
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        # Set before any connection exists, so it is inherited and every segment gets its stamp.
        self.listener.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        stamps_switched_on()
        self.port = self.listener.getsockname()[1]
        self.target = f"127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        self._stopping = False

    def __enter__(self) -> RecordingServer:
        accepter = threading.Thread(target=self._accept, daemon=True)
        accepter.start()
        self._threads.append(accepter)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping = True
        # close() alone does not wake a thread blocked in accept() or recv(); shutdown() does.
        _shutdown(self.listener)
        self.listener.close()
        with self.changed:
            open_connections = [c for c in self.connections if not c.closed]
        for connection in open_connections:
            _shutdown(connection.sock)
        for thread in list(self._threads):
            thread.join(WAIT_S)

    def _accept(self) -> None:
        while not self._stopping:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            connection = ServerConnection(sock, self.changed)
            with self.changed:
                self.connections.append(connection)
                self.open_now += 1
                self.most_open = max(self.most_open, self.open_now)
                self.changed.notify_all()
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: ServerConnection) -> None:
        try:
            self.handler(connection)
        except OSError:
            pass  # the socket closed under the handler at shutdown
        finally:
            connection.sock.close()
            with self.changed:
                self.open_now -= 1
                connection.closed = True
                self.changed.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
        with self.changed:
            if not self.changed.wait_for(predicate, timeout):
                raise AssertionError(f"condition not met within {timeout} s")

    def wait_closed(self, count: int, timeout: float = WAIT_S) -> list[ServerConnection]:
        """The first ``count`` connections, once their handlers have all finished."""
        self.wait_for(lambda: len(self.connections) >= count and all(c.closed for c in self.connections))
        return self.connections[:count]


_STAMPING: list[socket.socket] = []  # a listener with SO_TIMESTAMPNS held for the whole test session


def stamps_switched_on(timeout: float = WAIT_S) -> None:
    """Wait until the kernel stamps arriving TCP segments. The first socket that asks for stamps turns them on
    through deferred work (net_enable_timestamp), so a segment arriving just after can come without one, and
    turning them off again when the last such socket closes is deferred too: one listener is kept open for the
    session, and a loopback segment must arrive stamped before any test relies on stamps."""
    if _STAMPING:
        return
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    deadline = time.monotonic() + timeout
    while True:
        with socket.create_connection(listener.getsockname(), timeout=timeout) as client:
            accepted, _ = listener.accept()
            with accepted:
                client.sendall(b".")
                accepted.settimeout(timeout)
                _, ancillary, _, _ = accepted.recvmsg(16, socket.CMSG_SPACE(TIMESPEC.size))
        if _kernel_timestamp(ancillary) == _kernel_timestamp(ancillary):  # not nan: stamped
            _STAMPING.append(listener)
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the kernel did not stamp received segments within {timeout:g} s")
        time.sleep(0.01)  # the deferred work that turns stamps on has not run yet: poll again


def _kernel_timestamp(ancillary: list[tuple[int, int, bytes]]) -> float:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            seconds, nanoseconds = TIMESPEC.unpack(data[: TIMESPEC.size])
            assert isinstance(seconds, int) and isinstance(nanoseconds, int)
            return seconds + nanoseconds / 1e9
    return float("nan")  # compares false with everything: a test relying on it fails visibly


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed or never connected
        sock.shutdown(socket.SHUT_RDWR)


# -- handlers -----------------------------------------------------------------------------------------


def record_only(idle_timeout: float = WAIT_S) -> Handler:
    """Reads until end of input (or the timeout), writes nothing."""

    def handle(connection: ServerConnection) -> None:
        connection.read_to_end(idle_timeout)

    return handle


def respond(path: str, body: bytes) -> bytes:
    if path == "/":
        payload = HELLO
    elif path == "/echo":
        payload = body
    elif path.startswith("/bytes/"):
        payload = byte_pattern(int(path.removeprefix("/bytes/")))
    else:
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload


def parse_request(buffer: bytes) -> tuple[str, bytes, int] | str | None:
    """(path, body, length consumed) for a complete request, None if incomplete, "bad" if malformed."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buffer[:end].split(b"\r\n")
    parts = head[0].split(b" ")
    if len(parts) != 3 or parts[2] != b"HTTP/1.1":
        return "bad"
    length = 0
    for line in head[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            if not value.strip().isdigit():
                return "bad"
            length = int(value)
    if len(buffer) < end + 4 + length:
        return None
    return parts[1].decode("latin-1"), buffer[end + 4 : end + 4 + length], end + 4 + length


def http(header_timeout: float = WAIT_S, on_timeout: str = "fin") -> Handler:
    """A keep-alive HTTP/1.1 server with the lab routes; closes (FIN, or RST with on_timeout="reset")
    when no complete request arrives within header_timeout; answers 400 and closes on a bad request."""

    def handle(connection: ServerConnection) -> None:
        buffer = b""
        deadline = time.monotonic() + header_timeout
        while True:
            parsed = parse_request(buffer)
            if parsed == "bad":
                connection.write(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                return
            if isinstance(parsed, tuple):
                path, body, used = parsed
                buffer = buffer[used:]
                connection.write(respond(path, body))
                deadline = time.monotonic() + header_timeout
                continue
            remaining = deadline - time.monotonic()
            data = connection.read(remaining) if remaining > 0 else None
            if data is None:
                connection._note(timed_out=True)
                if on_timeout == "reset":
                    connection.reset()
                    return
                # A lingering close: the FIN leaves now, and what the client sent meanwhile is still
                # read (and recorded) instead of turning the close into a RST.
                connection.sock.shutdown(socket.SHUT_WR)
                connection.read_to_end(WAIT_S)
                return
            if not data:
                return
            buffer += data

    return handle


def respond_after_eof() -> Handler:
    """Reads until end of input, then answers the request it got: proves the write side survived a
    client's half-close."""

    def handle(connection: ServerConnection) -> None:
        connection.read_to_end(WAIT_S)
        parsed = parse_request(connection.received())
        if connection.end == "eof" and isinstance(parsed, tuple):
            connection.write(respond(parsed[0], parsed[1]))

    return handle


def blast(total: int, sndbuf: int, stall_timeout: float, on_stall: str = "reset") -> Handler:
    """Reads one request, then writes ``total`` response bytes without blocking, from a small send
    buffer. When the peer's window stays shut for stall_timeout it gives up: "reset" (SO_LINGER 0),
    "close" (a plain close, whatever input is unread), or "drain" (reads all pending input first, so
    that the close queues a FIN behind the unsent response instead of resetting)."""

    def handle(connection: ServerConnection) -> None:
        sock = connection.sock
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        while b"\r\n\r\n" not in connection.received():
            if not connection.read(WAIT_S):
                return
        payload = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total + byte_pattern(total)
        view = memoryview(payload)
        sent = 0
        sock.setblocking(False)
        while sent < len(payload):
            try:
                sent += sock.send(view[sent : sent + 65536])
                connection._note(bytes_written=sent)
                continue
            except BlockingIOError:
                connection._note(write_stalls=connection.write_stalls + 1)
            except OSError as exc:
                connection._note(write_error=errno.errorcode.get(exc.errno or 0, "error"))
                return
            _, writable, _ = select.select([], [sock], [], stall_timeout)
            if not writable:
                connection._note(stalled_at=sent)
                if on_stall == "reset":
                    connection.reset()
                elif on_stall == "drain":
                    while connection.read(0.0):  # a zero timeout: what is already queued
                        pass
                connection._note(gave_up_at=time.monotonic())
                return

    return handle


def run_against(
    server: RecordingServer, behaviour: str, *, seed: int = 1, connections: int = 1, **attributes: object
) -> tuple[RunHistory, dict[str, Any]]:
    """Runs a behaviour in-process against the server; returns the history and its result."""
    history = run_behaviour(
        behaviour,
        parse_target(server.target),
        seed=seed,
        connections=connections,
        overrides={name: str(value) for name, value in attributes.items()},
    )
    return history, summarize(history)


def recorded_pauses(history: RunHistory, index: int = 0) -> list[float]:
    """The pauses a connection's history asked for, in order (seconds)."""
    pauses = []
    for op in history.connections[index].ops:
        if op.kind == "pause":
            seconds = op.args["seconds"]
            assert isinstance(seconds, int | float)
            pauses.append(float(seconds))
    return pauses


def sent_with_pauses(history: RunHistory, index: int = 0) -> tuple[list[bytes], list[float]]:
    """A connection's sends, and the pauses (seconds) it recorded between each send and the next."""
    pieces: list[bytes] = []
    gaps: list[float] = []
    pending = 0.0
    for op in history.connections[index].ops:
        if op.kind == "send":
            if pieces:
                gaps.append(pending)
            pieces.append(op.data or b"")
            pending = 0.0
        elif op.kind == "pause" and pieces:
            seconds = op.args["seconds"]
            assert isinstance(seconds, int | float)
            pending += seconds
    return pieces, gaps


def assert_read_as_sent(seen: ServerConnection, history: RunHistory, index: int = 0) -> None:
    """The server read exactly the sent pieces, each pause-separated piece in its own recv, and the
    pieces arrived (kernel receive stamps) at least the recorded pauses apart.

    Under heavy machine load the server's thread can be scheduled late so that one recv returns
    several pieces. That is accepted for a few reads, but the pauses are still checked: a recv's
    stamp is that of its last segment, so the stamps of consecutive reads must lie at least the sum
    of the pauses between their last pieces apart, and a client that skipped pauses still fails.
    """
    pieces, gaps = sent_with_pauses(history, index)
    assert b"".join(seen.chunks) == b"".join(pieces)
    assert len(seen.chunks) > len(pieces) // 2, f"{len(pieces)} pieces arrived in {len(seen.chunks)} reads"
    piece = 0
    last_pieces: list[int] = []  # per read, the index of the last piece in it
    for number, chunk in enumerate(seen.chunks):
        taken = b""
        while len(taken) < len(chunk):
            taken += pieces[piece]
            piece += 1
        assert taken == chunk, f"read {number} ends inside piece {piece - 1}: a piece was split"
        last_pieces.append(piece - 1)
    for number in range(1, len(seen.chunks)):
        earlier, later = last_pieces[number - 1], last_pieces[number]
        apart = seen.arrival_times[number] - seen.arrival_times[number - 1]
        paused = sum(gaps[earlier:later])
        assert apart >= paused * 0.8, f"pieces {earlier}..{later} arrived {apart:.4f} s apart, not {paused} s"


def assert_each_read_as_sent(seen: list[ServerConnection], history: RunHistory) -> None:
    """assert_read_as_sent for every connection of a run, matched by content (accept order varies)."""
    by_content = {connection.received(): connection for connection in seen}
    assert len(by_content) == len(seen) == len(history.connections), "connections must differ in content"
    for index, recorded in enumerate(history.connections):
        sent = b"".join(op.data or b"" for op in recorded.ops if op.kind == "send")
        assert sent in by_content, f"no server connection received what connection {index} sent"
        assert_read_as_sent(by_content[sent], history, index)
