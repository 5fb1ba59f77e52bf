"""The real server in a subprocess on 127.0.0.1, and what the tests read about it from /proc.

Every wait polls a condition with a deadline (``wait_until``). The exceptions are ``cpu_fraction``,
``runnable_fraction`` and ``wakeups``: measuring CPU use or a rate needs a window of time to pass, and
that window is the measurement.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 10.0  # default bound for every wait
CLK_TCK = os.sysconf("SC_CLK_TCK")
TCP_CLOSE_WAIT = 0x08
PATTERN = bytes(range(251))

# Small timeouts keep the suite fast; tests that hold connections open pass their own.
FAST = ("--header-timeout", "2", "--idle-timeout", "2", "--write-timeout", "0.5", "--shutdown-deadline", "5")


def expected_bytes(n: int) -> bytes:
    """What GET /bytes/N must return, computed here rather than trusted from the server."""
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


def wait_until(condition: Callable[[], Any], what: str, timeout: float = WAIT_S, interval: float = 0.005) -> Any:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
        time.sleep(interval)


class ServerProcess:
    """``python -m server`` on 127.0.0.1, port 0; stdout and stderr go to files under ``workdir``."""

    def __init__(self, workdir: Path, *args: str, nofile: int | None = None, env: dict[str, str] | None = None):
        self.workdir = workdir
        self.args = ["--host", "127.0.0.1", "--port", "0", *args]
        self.nofile = nofile
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.pid = 0

    def __enter__(self) -> ServerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        out_path = self.workdir / "stdout"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SERVER_")}
        env.update(self.env, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        nofile = self.nofile

        def limit_fds() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        with open(out_path, "wb") as out, open(self.workdir / "stderr", "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server", *self.args], cwd=REPO, env=env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, preexec_fn=limit_fds,
            )
        try:
            line = wait_until(lambda: self._banner(out_path), "the server's banner")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        words = dict(w.split("=", 1) for w in line.split() if "=" in w)
        self.port = int(line.split()[4].rsplit(":", 1)[1])
        self.pid = int(words["pid"])
        return self

    def _banner(self, path: Path) -> str | None:
        assert self.proc is not None
        text = path.read_text(errors="replace")
        if "\n" in text:
            return text.split("\n", 1)[0]
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}: {self.stderr()}")
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(timeout=WAIT_S)

    def stderr(self) -> str:
        return (self.workdir / "stderr").read_text(errors="replace")[-3000:]

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def alive(self) -> bool:
        assert self.proc is not None
        return self.proc.poll() is None

    def signal(self, signum: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)
        if signum == signal.SIGSTOP:
            # A signal is delivered when the process next runs: on a loaded machine it may still read what the
            # caller sends next. Stopped means its state says so.
            deadline = time.monotonic() + WAIT_S
            while self.state() not in "tT":
                if time.monotonic() > deadline:
                    raise AssertionError(f"server not stopped {WAIT_S} s after SIGSTOP (state {self.state()})")
                time.sleep(0.001)

    def state(self) -> str:
        with open(f"/proc/{self.pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]

    def wait_exit(self, timeout: float = WAIT_S) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    # -- /proc ---------------------------------------------------------------------------------

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def cpu_ticks(self) -> int:
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15 of stat)

    def cpu_fraction(self, window: float = 0.4) -> float:
        """Share of one core the server used over ``window`` seconds (the window is the measurement)."""
        before, start = self.cpu_ticks(), time.monotonic()
        time.sleep(window)
        return (self.cpu_ticks() - before) / CLK_TCK / (time.monotonic() - start)

    def runnable_fraction(self, window: float = 0.4) -> float:
        """Share of ``window`` the server was running or waiting for a CPU (/proc/PID/schedstat).

        Unlike CPU time, this does not drop when other load on the machine delays a spinning process.
        """

        def runnable_ns() -> int:
            with open(f"/proc/{self.pid}/schedstat") as f:
                on_cpu, waiting, _ = f.read().split()
            return int(on_cpu) + int(waiting)

        before, start = runnable_ns(), time.monotonic_ns()
        time.sleep(window)
        return (runnable_ns() - before) / (time.monotonic_ns() - start)

    def wakeups(self, window: float = 0.4) -> int:
        """Times the (single-threaded) server went to sleep and was woken over ``window`` seconds (the window
        is the measurement): its voluntary context switches, each a blocking wait that ended."""

        def switches() -> int:
            with open(f"/proc/{self.pid}/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt_switches:"))

        before = switches()
        time.sleep(window)
        return switches() - before

    def rss(self) -> int:
        with open(f"/proc/{self.pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def tcp(self) -> list[tuple[int, int, int, int, int]]:
        """(local port, remote port, state, send queue, receive queue) of the server port's TCP sockets."""
        return tcp_sockets(self.port)

    def close_wait(self) -> int:
        return sum(1 for row in self.tcp() if row[2] == TCP_CLOSE_WAIT)

    def server_side(self, client: socket.socket) -> tuple[int, int, int, int, int] | None:
        port = client.getsockname()[1]
        return next((row for row in self.tcp() if row[1] == port), None)

    def wait_consumed(self, client: socket.socket) -> None:
        """Until the server has read everything the client sent: nothing left unacknowledged on the
        client's side (SIOCOUTQ) and nothing unread in the server's receive queue."""

        def consumed() -> bool:
            if struct.unpack("i", fcntl.ioctl(client.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]:
                return False
            row = self.server_side(client)
            return row is None or row[4] == 0

        wait_until(consumed, "the server to read what was sent", interval=0.0005)

    def stats(self) -> dict[str, Any]:
        status, _, body = request(self.address, b"GET /__lab/stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert status == 200
        return parse_json(body)

    def settle(self, baseline_fds: int, timeout: float = WAIT_S) -> None:
        """Until the server is back to ``baseline_fds`` with no socket left in CLOSE_WAIT."""
        wait_until(lambda: self.fds() == baseline_fds and self.close_wait() == 0,
                   f"fds back to {baseline_fds} with no CLOSE_WAIT", timeout)


def parse_json(body: bytes) -> dict[str, Any]:
    value = json.loads(body)
    assert isinstance(value, dict)
    return value


# -- sockets by port, through sock_diag ------------------------------------------------------------
# /proc/PID/net/tcp lists the whole network namespace: with thousands of TIME_WAIT sockets from
# other work on the machine, one read takes ~50 ms. A netlink dump filtered by port takes ~3 ms.

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x301
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NOT_TIME_WAIT = 0xFFF & ~(1 << 6)


def tcp_sockets(port: int) -> list[tuple[int, int, int, int, int]]:
    """IPv4 TCP sockets whose local port is ``port``: (local, remote, state, send queue, receive queue).

    The receive queue of an established socket is what its owner has not read yet.
    """
    request = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, _NOT_TIME_WAIT)
    request += struct.pack("!HH", port, 0) + bytes(36) + struct.pack("=II", 0xFFFFFFFF, 0xFFFFFFFF)
    header = struct.pack("=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, 1, 0)
    rows: list[tuple[int, int, int, int, int]] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG) as nl:
        nl.sendall(header + request)
        while True:
            data = nl.recv(1 << 16)
            offset = 0
            while offset < len(data):
                length, kind = struct.unpack_from("=IH", data, offset)
                if kind == _NLMSG_DONE:
                    return rows
                if kind == _NLMSG_ERROR:
                    raise OSError(-struct.unpack_from("=i", data, offset + 16)[0], "sock_diag dump failed")
                state = data[offset + 17]
                local, remote = struct.unpack_from("!HH", data, offset + 20)
                receive_queue, send_queue = struct.unpack_from("=II", data, offset + 72)
                if local == port:
                    rows.append((local, remote, state, send_queue, receive_queue))
                offset += (length + 3) & ~3


# -- a small HTTP client ------------------------------------------------------------------------


def connect(address: tuple[str, int], timeout: float = WAIT_S, rcvbuf: int | None = None) -> socket.socket:
    """A blocking client socket; a small ``rcvbuf`` (set before the handshake) keeps the window small."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Reader:
    """Reads responses (status, headers, body) off one socket, keeping pipelined leftovers."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _more(self, deadline: float) -> bool:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([self.sock], [], [], left)[0]:
            raise TimeoutError("no response data before the deadline")
        data = self.sock.recv(1 << 20)
        self.buf += data
        return bool(data)

    def response(self, timeout: float = WAIT_S) -> tuple[int, dict[str, str], bytes]:
        deadline = time.monotonic() + timeout
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            if not self._more(deadline):
                raise ConnectionError(f"end of input before a response head: {bytes(self.buf[:200])!r}")
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < end + 4 + length:
            if not self._more(deadline):
                raise ConnectionError(f"end of input after {len(self.buf) - end - 4} of {length} body bytes")
        body = bytes(self.buf[end + 4 : end + 4 + length])
        del self.buf[: end + 4 + length]
        return status, headers, body

    def read_at_least(self, n: int, timeout: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            if not self._more(deadline):
                raise ConnectionError(f"end of input after {len(self.buf)} of {n} bytes")

    def until_eof(self, timeout: float = WAIT_S) -> bytes:
        deadline = time.monotonic() + timeout
        while self._more(deadline):
            pass
        data = bytes(self.buf)
        self.buf.clear()
        return data


def request(address: tuple[str, int], raw: bytes, timeout: float = WAIT_S) -> tuple[int, dict[str, str], bytes]:
    with connect(address, timeout) as sock:
        sock.sendall(raw)
        return Reader(sock).response(timeout)


def get(address: tuple[str, int], path: str = "/") -> tuple[int, dict[str, str], bytes]:
    return request(address, f"GET {urllib.parse.quote(path)} HTTP/1.1\r\nHost: t\r\n\r\n".encode())


@contextlib.contextmanager
def sockets() -> Iterator[list[socket.socket]]:
    """A list to put client sockets in; all of them are closed on the way out."""
    held: list[socket.socket] = []
    try:
        yield held
    finally:
        for sock in held:
            sock.close()
