"""Where our server's time and memory go, for the targets it misses.

    python -m bench.profile cpu [--trigger level|edge] [--workload keepalive|distinct|pipelined] [--seconds 5]
    python -m bench.profile memory [--trigger level|edge] [--count 10000]

`cpu` runs the server under cProfile while wrk loads it (cProfile roughly doubles the cost of each
Python call, so read the shares, not the absolute times); `memory` runs it under tracemalloc and
compares snapshots before and after the idle connections are opened, per connection.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import wrk
from bench.idle import holder_argv, one_request, parse_ready, release
from bench.procs import Cores, exited, held_connections, read_line, rss_bytes, spawned, wait_until
from bench.servers import Options, running

REPO = Path(__file__).resolve().parent.parent


def profile_cpu(opts: Options, trigger: str, workload: str, seconds: float, top: int) -> str:
    prof = opts.workdir / f"cprofile-{trigger}-{workload}.prof"
    traced = Options(opts.repo, opts.workdir, opts.cores, python=(sys.executable, "-m", "cProfile", "-o", str(prof)))
    script = wrk.workload_script(workload, opts.workdir, 16)
    with running(f"ours-{trigger}", traced) as srv:
        result = wrk.run(srv.port, cores=opts.cores, seconds=seconds, connections=50, script=script)
        os.kill(srv.pid, signal.SIGTERM)  # cProfile writes its file when the server returns
        if not wait_until(lambda: exited(srv.pid), 30.0, 0.1):
            raise RuntimeError("the profiled server did not stop within 30 s")
    out = io.StringIO()
    out.write(f"cProfile of ours-{trigger}, {workload}: {result.requests} requests in {result.seconds:.1f} s "
              f"(slowed by cProfile)\n")
    stats = pstats.Stats(str(prof), stream=out)
    out.write(by_place(stats, result.requests, str(opts.repo) + "/"))
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def by_place(stats: pstats.Stats, requests: int, strip: str) -> str:
    """Own time per source file (C functions by name), as shares of the non-waiting time."""
    places: dict[str, float] = {}
    calls = 0
    for (filename, _line, func), (_cc, ncalls, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        place = func if filename == "~" else filename.removeprefix(strip)
        places[place] = places.get(place, 0.0) + tottime
        calls += ncalls
    waiting = places.pop("<method 'poll' of 'select.epoll' objects>", 0.0)  # mostly blocked, not working
    busy = sum(places.values())
    lines = [f"{calls / requests:.0f} Python-visible calls per request; epoll.poll (waiting included) "
             f"{waiting:.2f} s left out; own time of the rest, {busy:.2f} s:"]
    for place, seconds in sorted(places.items(), key=lambda kv: -kv[1])[:12]:
        lines.append(f"  {100 * seconds / busy:5.1f}%  {1e6 * seconds / requests:6.2f} µs/request  {place}")
    return "\n".join(lines) + "\n\n"


@dataclass
class MemoryPass:
    opened: int
    rss_before: int
    rss_with: int
    dumps: Path  # done-0 before the connections, done-1 with them


def _memory_pass(opts: Options, trigger: str, count: int, trace: bool) -> MemoryPass:
    dumps = opts.workdir / ("traced" if trace else "mallocstats")
    dumps.mkdir(exist_ok=True)
    wrapper = (sys.executable, "-m", "bench.apps.traced", str(dumps), *(["--trace"] if trace else []))
    held = Options(opts.repo, opts.workdir, opts.cores, hold_s=600.0, python=wrapper)

    def dump(pid: int, number: int) -> None:
        os.kill(pid, signal.SIGUSR1)
        if not wait_until((dumps / f"done-{number}").exists, 60.0, 0.1):
            raise RuntimeError(f"no memory dump {number} within 60 s")

    with running(f"ours-{trigger}", held) as srv:
        one_request(srv.port)
        dump(srv.pid, 0)
        rss_before = rss_bytes(srv.pid)
        argv = opts.cores.on_load(holder_argv("idle", srv.port, count, 300))
        with spawned(argv, cwd=opts.repo, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as holder:
            opened = parse_ready(read_line(holder, 120.0), count)
            if not wait_until(lambda: held_connections(srv.pid, srv.port) >= opened, 30.0, 0.2):
                raise RuntimeError("the server did not accept every connection")
            rss_with = rss_bytes(srv.pid)
            dump(srv.pid, 1)
            release(holder)
    return MemoryPass(opened, rss_before, rss_with, dumps)


def profile_memory(opts: Options, trigger: str, count: int, top: int) -> str:
    """Two runs: pymalloc's statistics with the true RSS, then tracemalloc by source line."""
    plain = _memory_pass(opts, trigger, count, trace=False)
    traced = _memory_pass(opts, trigger, count, trace=True)
    out = io.StringIO()
    n = plain.opened
    out.write(f"ours-{trigger} with {n} idle keep-alive connections: RSS grows "
              f"{(plain.rss_with - plain.rss_before) / n:.0f} B/connection.\n")
    before = _pymalloc_totals(plain.dumps / "mallocstats-0.txt")
    after = _pymalloc_totals(plain.dumps / "mallocstats-1.txt")
    out.write("pymalloc, per connection:\n")
    for name, value in after.items():
        out.write(f"  {(value - before.get(name, 0)) / n:+8.1f} B  {name}\n")
    diffs = tracemalloc.Snapshot.load(str(traced.dumps / "snapshot-1.pickle")).compare_to(
        tracemalloc.Snapshot.load(str(traced.dumps / "snapshot-0.pickle")), "lineno")
    out.write(f"tracemalloc (second run): Python allocations {sum(d.size_diff for d in diffs) / traced.opened:.0f} "
              "B/connection, by line:\n")
    for diff in diffs[:top]:
        frame = diff.traceback[0]
        out.write(f"  {diff.size_diff / traced.opened:8.1f} B  {diff.count_diff / traced.opened:5.2f} blocks  "
                  f"{frame.filename.removeprefix(str(opts.repo) + '/')}:{frame.lineno}\n")
    return out.getvalue()


def _pymalloc_totals(path: Path) -> dict[str, int]:
    """The first summary of sys._debugmallocstats(): '# bytes in allocated blocks = 1,234' and the like."""
    totals: dict[str, int] = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        name = name.strip("# ").strip()
        if not sep or name in totals:
            continue
        if name.startswith(("bytes in", "bytes lost to", "arenas allocated current")) or name == "Total":
            with contextlib.suppress(ValueError):
                totals[name] = int(value.replace(",", "").strip())
        if name == "Total":
            break  # what follows is about the arena map and free lists
    return totals


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("cpu", "memory"))
    parser.add_argument("--trigger", choices=("level", "edge"), default="level")
    parser.add_argument("--workload", choices=("keepalive", "distinct", "pipelined"), default="keepalive")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        opts = Options(REPO, Path(tmp), Cores.detect())
        if args.kind == "cpu":
            print(profile_cpu(opts, args.trigger, args.workload, args.seconds, args.top))
        else:
            print(profile_memory(opts, args.trigger, args.count, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
