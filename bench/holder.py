"""A helper process that holds many connections open: `python -m bench.holder idle|slowloris PORT COUNT`.

idle:      each connection makes one keep-alive `GET /`, reads the answer, then stays silent.
slowloris: each connection sends a partial head, then one more byte per second (never finishing it).

It prints `ready OPENED` once the connections are in place, holds them until its stdin closes (or
--max-seconds pass), then prints `done OPEN CLOSED_BY_SERVER` and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import select
import socket
import sys
import time
from collections.abc import Sequence

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
SLOW_HEAD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slowloris: "
ANSWER_END = b"hello, epoll\n"
IO_TIMEOUT_S = 10.0
TRICKLE_BATCHES = 20  # per second: spreads the trickle instead of one burst of COUNT sends


def _open_idle(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
    try:
        sock.sendall(REQUEST)
        received = b""
        while not received.endswith(ANSWER_END):
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("server closed before answering")
            received += chunk
    except BaseException:
        sock.close()
        raise
    return sock


def _open_slow(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
    try:
        sock.sendall(SLOW_HEAD)
    except BaseException:
        sock.close()
        raise
    return sock


def _stdin_closed(timeout_s: float) -> bool:
    ready, _, _ = select.select([sys.stdin.fileno()], [], [], max(timeout_s, 0.0))
    return bool(ready) and not os.read(sys.stdin.fileno(), 4096)


def _trickle(socks: list[socket.socket], closed: set[int], batch: int) -> None:
    for index in range(batch, len(socks), TRICKLE_BATCHES):
        if index in closed:
            continue
        try:
            socks[index].send(b"a")
        except OSError:
            closed.add(index)


def _still_open(sock: socket.socket) -> bool:
    """Nothing came back (no answer, FIN or RST): a non-blocking peek finds nothing to read."""
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.holder")
    parser.add_argument("mode", choices=("idle", "slowloris"))
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--open-seconds", type=float, default=60.0, help="give up opening after this long")
    args = parser.parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    opener = _open_idle if args.mode == "idle" else _open_slow
    socks: list[socket.socket] = []
    closed: set[int] = set()
    try:
        open_deadline = time.monotonic() + args.open_seconds
        error = ""
        while len(socks) < args.count and time.monotonic() < open_deadline:
            try:
                socks.append(opener(args.port))
                socks[-1].setblocking(False)
            except OSError as err:
                error = f" {type(err).__name__}: {err}"
                break
        print(f"ready {len(socks)}{error}", flush=True)
        deadline = time.monotonic() + args.max_seconds
        batch = 0
        while time.monotonic() < deadline:
            if _stdin_closed(1.0 / TRICKLE_BATCHES):
                break
            if args.mode == "slowloris":
                _trickle(socks, closed, batch)
                batch = (batch + 1) % TRICKLE_BATCHES
        open_now = sum(1 for i, s in enumerate(socks) if i not in closed and _still_open(s))
        print(f"done {open_now} {len(socks) - open_now}", flush=True)
    finally:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
