"""What one keep-alive request costs our server's Python code, without sockets, wrk or noise.

    python -m bench.parse_cost [--workload distinct|repeated] [--requests N] [--instructions]

Feeds wrk-like requests (``GET /?n=1 HTTP/1.1`` + ``Host: 127.0.0.1:8080``; ``distinct``: n counts up,
so every request is new; ``repeated``: always ``GET /``) to one quiet connection through its real
per-request path (``Connection.handle_event(EPOLLIN)``: recv, memo, parse, route, remember, send), over
a stand-in socket, each after the loop's once-per-wakeup Date check (one request per wakeup: the worst
case). Prints ns per request (best of 5), or with ``--instructions`` the instructions per request
counted by callgrind (two runs under valgrind, N and 6N requests, so start-up cancels out): exact and
repeatable on a shared machine, where timings are not.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

from server.connection import EPOLLIN, Connection, Settings
from server.http.date import HttpDate
from server.routes import Router
from server.stats import Stats

HOST = b"127.0.0.1:8080"


def wrk_request(target: bytes) -> bytes:
    """What wrk.format(nil, target) sends to http://127.0.0.1:8080/."""
    return b"GET " + target + b" HTTP/1.1\r\nHost: " + HOST + b"\r\n\r\n"


def requests(workload: str, count: int) -> list[bytes]:
    if workload == "distinct":
        return [wrk_request(b"/?n=%d" % n) for n in range(1, count + 1)]
    if workload == "repeated":
        return [wrk_request(b"/") for _ in range(count)]  # equal, not the same object (its hash not cached)
    raise ValueError(f"unknown workload {workload!r}: choose distinct or repeated")


class _Socket:
    """Just enough socket: each recv returns the next request, each send takes everything."""

    def __init__(self, incoming: Iterator[bytes]) -> None:
        self.recv = lambda _size: next(incoming)

    def fileno(self) -> int:
        return 3

    def send(self, data: bytes | bytearray | memoryview, /) -> int:
        return len(data)

    def close(self) -> None: ...
    def shutdown(self, how: int, /) -> None: ...
    def setsockopt(self, level: int, optname: int, value: int, /) -> None: ...
    def getsockopt(self, level: int, optname: int, /) -> int:
        return 0


def drive(batch: Sequence[bytes]) -> float:
    """Seconds to answer all of ``batch`` on one quiet connection (the first request makes it quiet)."""
    stats = Stats("level", None)
    sock = _Socket(iter([wrk_request(b"/"), *batch]))
    date = HttpDate()
    conn = Connection(sock, Settings(date=date), Router(stats.to_json, date), stats, 0.0)
    conn.handle_event(EPOLLIN, 0.0)  # a fresh connection takes the slow path once
    conn.timer_at = conn.deadline  # as the loop's timer wheel does
    handle = conn.handle_event
    now = 1.0
    date_due = date.tick(now)
    started = time.perf_counter()
    for _ in range(len(batch)):
        if now >= date_due:  # the loop's per-wakeup Date check, as if each request had a wakeup of its own
            date_due = date.tick(now)
        if not handle(EPOLLIN, now):
            raise RuntimeError("a request left the fast path")
    elapsed = time.perf_counter() - started
    if stats.requests != len(batch) + 1:
        raise RuntimeError(f"answered {stats.requests - 1} of {len(batch)} requests")
    return elapsed


def nanoseconds_per_request(workload: str, count: int, repeats: int = 5) -> float:
    batch = requests(workload, count)
    return min(drive(batch) for _ in range(repeats)) / count * 1e9


_COLLECTED = re.compile(rb"Collected : (\d+)")


def instructions(workload: str, count: int, made: int) -> int:
    """User-space instructions of a whole run answering ``count`` of ``made`` requests (start-up included)."""
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m", "bench.parse_cost",
            "--workload", workload, "--requests", str(count), "--once", str(made)]
    # A fixed hash seed: dict probing, and with it the count, the same from run to run.
    done = subprocess.run(argv, capture_output=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    match = _COLLECTED.search(done.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in callgrind's output: {done.stderr[-300:]!r}")
    return int(match[1])


def instructions_per_request(workload: str, count: int) -> float:
    # Both runs make the same requests, so only answering them differs.
    small = instructions(workload, count, 6 * count)
    large = instructions(workload, 6 * count, 6 * count)
    return (large - small) / (5 * count)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.parse_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=("distinct", "repeated"), default="distinct")
    parser.add_argument("--requests", type=int, help="per run (default 100000; 2000 with --instructions)")
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind")
    # One run for callgrind: make this many requests, answer the first --requests of them.
    parser.add_argument("--once", type=int, metavar="MADE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.once is not None:
        drive(requests(args.workload, args.once)[: args.requests])
        return 0
    if args.instructions:
        if shutil.which("valgrind") is None:
            print("parse_cost: --instructions needs valgrind on PATH", file=sys.stderr)
            return 2
        count = args.requests or 2000
        print(f"{args.workload}: {instructions_per_request(args.workload, count):,.0f} instructions per request")
        return 0
    count = args.requests or 100_000
    print(f"{args.workload}: {nanoseconds_per_request(args.workload, count):,.0f} ns per request (best of 5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
