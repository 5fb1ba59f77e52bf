"""Where our server's time and memory go, for the targets it misses.

    python -m bench.profile cpu [--trigger level|edge] [--workload keepalive|pipelined] [--seconds 5]
    python -m bench.profile memory [--trigger level|edge] [--count 10000]

`cpu` runs the server under cProfile while wrk loads it (cProfile roughly doubles the cost of each
Python call, so read the shares, not the absolute times); `memory` runs it under tracemalloc and
compares snapshots before and after the idle connections are opened, per connection.
"""

from __future__ import annotations

import argparse
import io
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

from bench import wrk
from bench.idle import holder_argv, one_request, parse_ready, release
from bench.procs import Cores, exited, held_connections, read_line, rss_bytes, spawned, wait_until
from bench.servers import Options, running

REPO = Path(__file__).resolve().parent.parent


def profile_cpu(opts: Options, trigger: str, workload: str, seconds: float, top: int) -> str:
    prof = opts.workdir / f"cprofile-{trigger}-{workload}.prof"
    traced = Options(opts.repo, opts.workdir, opts.cores, python=(sys.executable, "-m", "cProfile", "-o", str(prof)))
    script = wrk.pipeline_script(opts.workdir, 16) if workload == "pipelined" else None
    with running(f"ours-{trigger}", traced) as srv:
        result = wrk.run(srv.port, cores=opts.cores, seconds=seconds, connections=50, script=script)
        os.kill(srv.pid, signal.SIGTERM)  # cProfile writes its file when the server returns
        if not wait_until(lambda: exited(srv.pid), 30.0, 0.1):
            raise RuntimeError("the profiled server did not stop within 30 s")
    out = io.StringIO()
    out.write(f"cProfile of ours-{trigger}, {workload}, {result.requests} requests in {result.seconds:.1f} s "
              f"(under cProfile)\n")
    stats = pstats.Stats(str(prof), stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def profile_memory(opts: Options, trigger: str, count: int, top: int) -> str:
    snaps = opts.workdir / "snapshots"
    snaps.mkdir(exist_ok=True)
    traced = Options(opts.repo, opts.workdir, opts.cores, hold_s=600.0,
                     python=(sys.executable, "-m", "bench.apps.traced", str(snaps)))

    def snapshot(pid: int, number: int) -> tracemalloc.Snapshot:
        path = snaps / f"snapshot-{number}.pickle"
        os.kill(pid, signal.SIGUSR1)
        if not wait_until(path.exists, 60.0, 0.1):
            raise RuntimeError(f"no tracemalloc snapshot {number} within 60 s")
        return tracemalloc.Snapshot.load(str(path))

    with running(f"ours-{trigger}", traced) as srv:
        one_request(srv.port)
        before = snapshot(srv.pid, 0)
        rss_before = rss_bytes(srv.pid)
        argv = opts.cores.on_load(holder_argv("idle", srv.port, count, 300))
        with spawned(argv, cwd=opts.repo, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as holder:
            opened = parse_ready(read_line(holder, 120.0), count)
            if not wait_until(lambda: held_connections(srv.pid, srv.port) >= opened, 30.0, 0.2):
                raise RuntimeError("the server did not accept every connection")
            rss_with = rss_bytes(srv.pid)
            after = snapshot(srv.pid, 1)
            release(holder)
    diffs = after.compare_to(before, "lineno")
    traced_total = sum(d.size_diff for d in diffs)
    out = io.StringIO()
    out.write(f"tracemalloc of ours-{trigger} with {opened} idle keep-alive connections\n")
    out.write(f"RSS growth {(rss_with - rss_before) / opened:.0f} B/connection (tracemalloc itself adds some); "
              f"Python allocations traced {traced_total / opened:.0f} B/connection, by line:\n")
    for diff in diffs[:top]:
        frame = diff.traceback[0]
        out.write(f"  {diff.size_diff / opened:8.1f} B  {diff.count_diff / opened:5.2f} blocks  "
                  f"{frame.filename.removeprefix(str(opts.repo) + '/')}:{frame.lineno}\n")
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("cpu", "memory"))
    parser.add_argument("--trigger", choices=("level", "edge"), default="level")
    parser.add_argument("--workload", choices=("keepalive", "pipelined"), default="keepalive")
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
