"""Syscalls per keep-alive request: `strace -f -c` attached to the serving process over a short wrk run.

strace slows the traced server down a lot, so its request rate here means nothing; the counts
per request do not depend on it. For nginx the one worker is traced (the master does no request work).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import wrk
from bench.procs import spawned, wait_until
from bench.servers import Options, Running, per_server

Json = dict[str, Any]
ATTACH_TIMEOUT_S = 10.0
DETACH_TIMEOUT_S = 15.0
# Shown first, in this order, when they occur: the calls of a request's round trip.
KNOWN_ORDER = ("epoll_wait", "epoll_pwait", "epoll_ctl", "recvfrom", "read", "readv", "sendto", "write", "writev",
               "sendmsg", "accept4", "setsockopt", "ioctl", "close")


def parse_summary(text: str) -> dict[str, tuple[int, int]]:
    """strace -c's table as {syscall: (calls, errors)}; the total row is left out.

    Rows are `% time, seconds, usecs/call, calls, [errors], syscall`; errors is blank when zero.
    """
    found: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5 or not parts[-1].replace("_", "").isalnum() or parts[-1] == "total":
            continue
        try:
            numbers = [float(p) for p in parts[:-1]]
        except ValueError:
            continue  # the header, a rule, or a message
        if len(numbers) not in (4, 5):
            continue
        errors = int(numbers[4]) if len(numbers) == 5 else 0
        found[parts[-1]] = (int(numbers[3]), errors)
    return found


def per_request(counts: dict[str, tuple[int, int]], requests: int) -> Json:
    if requests <= 0:
        raise RuntimeError("wrk got no responses under strace")
    calls = {name: c / requests for name, (c, _e) in counts.items()}
    errors = {name: e / requests for name, (_c, e) in counts.items() if e}
    return {"requests": requests, "per_request": calls, "errors_per_request": errors,
            "total_per_request": sum(calls.values())}


def _attached(log: Path) -> bool:
    try:
        return "attached" in log.read_text(errors="replace")
    except OSError:
        return False


def _measure_one(srv: Running, opts: Options, seconds: float, connections: int) -> Json:
    wrk.run(srv.port, cores=opts.cores, seconds=1, connections=connections)  # warm: first-request work out
    summary = opts.workdir / f"strace-{srv.name}.txt"
    log = opts.workdir / f"strace-{srv.name}.log"
    argv = ["strace", "-f", "-c", "-o", str(summary), "-p", str(srv.pid)]
    with log.open("wb") as log_file, spawned(argv, stdout=log_file, stderr=subprocess.STDOUT) as tracer:
        if not wait_until(lambda: _attached(log) or tracer.poll() is not None, ATTACH_TIMEOUT_S):
            raise RuntimeError("strace did not attach")
        if tracer.poll() is not None:
            raise RuntimeError(f"strace exited with {tracer.returncode}: {log.read_text(errors='replace')[-300:]}")
        result = wrk.run(srv.port, cores=opts.cores, seconds=seconds, connections=connections)
        os.kill(tracer.pid, signal.SIGINT)  # detach and write the summary
        try:
            tracer.wait(timeout=DETACH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise RuntimeError("strace did not detach") from None
    counts = parse_summary(summary.read_text(errors="replace"))
    if not counts:
        raise RuntimeError(f"no strace summary: {log.read_text(errors='replace')[-300:]}")
    return {**per_request(counts, result.requests), "seconds": seconds, "connections": connections}


def measure(names: Sequence[str], opts: Options, seconds: float = 2.0, connections: int = 50) -> Json:
    return per_server(names, opts, lambda srv: _measure_one(srv, opts, seconds, connections))


def columns(results: Json, min_per_request: float = 0.005) -> list[str]:
    """The syscalls worth a column: the known round-trip calls whenever made, then other frequent ones."""
    seen: dict[str, float] = {}
    for entry in results.values():
        for name, rate in entry.get("per_request", {}).items():
            seen[name] = max(seen.get(name, 0.0), rate)
    known = [n for n in KNOWN_ORDER if n in seen]
    others = [n for n, rate in seen.items() if rate >= min_per_request and n not in known]
    return known + sorted(others, key=lambda n: -seen[n])
