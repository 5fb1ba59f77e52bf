"""C10K: RSS per idle keep-alive connection and idle CPU, with a helper process holding the connections."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.procs import CLK_TCK, cpu_ticks, held_connections, read_line, rss_bytes, spawned, wait_until
from bench.servers import Options, Running, per_server

Json = dict[str, Any]
OPEN_TIMEOUT_S = 90.0
SETTLE_S = 1.0  # lets allocator and timers reach their idle state before the window starts


def one_request(port: int) -> None:
    """Warms the server up so that lazy first-request allocations are in the baseline RSS."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        while sock.recv(4096):
            pass


def holder_argv(mode: str, port: int, count: int, max_seconds: float) -> list[str]:
    return [sys.executable, "-m", "bench.holder", mode, str(port), str(count), "--max-seconds", f"{max_seconds:g}"]


def parse_ready(line: str, wanted: int) -> int:
    parts = line.split()
    if not parts or parts[0] != "ready":
        raise RuntimeError(f"the holder did not get ready: {line!r}")
    opened = int(parts[1])
    if opened < wanted:
        raise RuntimeError(f"the holder opened {opened} of {wanted} connections: {line}")
    return opened


def release(holder: subprocess.Popen[bytes]) -> tuple[int, int]:
    """Closes the holder's stdin and reads `done OPEN CLOSED` (how many the server kept)."""
    assert holder.stdin is not None
    holder.stdin.close()
    parts = read_line(holder, 30.0).split()
    if len(parts) != 3 or parts[0] != "done":
        raise RuntimeError(f"the holder did not report: {' '.join(parts)!r}")
    return int(parts[1]), int(parts[2])


def _measure_one(srv: Running, opts: Options, count: int, window_s: float) -> Json:
    one_request(srv.port)
    rss_before = rss_bytes(srv.pid)
    argv = opts.cores.on_load(holder_argv("idle", srv.port, count, OPEN_TIMEOUT_S + window_s + 60))
    with spawned(argv, cwd=opts.repo, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as holder:
        started = time.monotonic()
        opened = parse_ready(read_line(holder, OPEN_TIMEOUT_S), count)
        open_s = time.monotonic() - started
        if not wait_until(lambda: held_connections(srv.pid, srv.port) >= opened, 15.0, 0.2):
            raise RuntimeError(f"the server holds {held_connections(srv.pid, srv.port)} of {opened} connections")
        time.sleep(SETTLE_S)
        ticks = cpu_ticks(srv.pid)
        time.sleep(window_s)  # the idle window itself
        idle_cpu_s = (cpu_ticks(srv.pid) - ticks) / CLK_TCK
        rss_with = rss_bytes(srv.pid)
        still_open, dropped = release(holder)
    return {
        "connections": opened,
        "still_open_at_end": still_open,
        "dropped_by_server": dropped,
        "open_seconds": open_s,
        "rss_before_bytes": rss_before,
        "rss_with_bytes": rss_with,
        "rss_per_connection_bytes": (rss_with - rss_before) / opened,
        "idle_cpu_percent": 100.0 * idle_cpu_s / window_s,
        "idle_window_s": window_s,
    }


def measure(names: Sequence[str], opts: Options, count: int = 10_000, window_s: float = 5.0) -> Json:
    held = dataclasses.replace(opts, hold_s=600.0)  # no keep-alive timeout may close them mid-measurement
    return per_server(names, held, lambda srv: _measure_one(srv, held, count, window_s))
