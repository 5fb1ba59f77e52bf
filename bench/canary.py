"""Canary latency while slowloris connections are open: does one slow crowd delay everyone else?"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from bench.idle import holder_argv, parse_ready, release
from bench.procs import held_connections, read_line, spawned, wait_until
from bench.servers import Options, Running, per_server

Json = dict[str, Any]
HEADER_TIMEOUT_S = 60.0  # long enough that the slowloris connections stay for the whole measurement


def canary(srv: Running, opts: Options, seconds: float) -> Json:
    argv = opts.cores.on_load([sys.executable, "-m", "bench.canary_client", str(srv.port), "--seconds",
                               f"{seconds:g}"])
    done = subprocess.run(argv, cwd=opts.repo, capture_output=True, text=True, timeout=seconds + 30, check=False)
    try:
        result: Json = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"the canary failed: {(done.stderr or done.stdout).strip()[-300:]}") from None
    if "error" in result:
        raise RuntimeError(f"the canary failed: {result['error']}")
    return result


def _measure_one(srv: Running, opts: Options, slow: int, seconds: float) -> Json:
    baseline = canary(srv, opts, min(seconds, 2.0))
    argv = opts.cores.on_load(holder_argv("slowloris", srv.port, slow, 120 + seconds))
    with spawned(argv, cwd=opts.repo, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as holder:
        opened = parse_ready(read_line(holder, 60.0), slow)
        if not wait_until(lambda: held_connections(srv.pid, srv.port) >= opened, 15.0, 0.2):
            raise RuntimeError(f"the server holds {held_connections(srv.pid, srv.port)} of {opened} slowloris "
                               "connections")
        under = canary(srv, opts, seconds)
        still_open, dropped = release(holder)
    return {**under, "slowloris_open": opened, "slowloris_still_open_at_end": still_open,
            "slowloris_dropped": dropped, "baseline_p50_ms": baseline["p50_ms"],
            "baseline_p99_ms": baseline["p99_ms"], "seconds": seconds}


def measure(names: Sequence[str], opts: Options, slow: int = 2000, seconds: float = 5.0) -> Json:
    patient = dataclasses.replace(opts, hold_s=HEADER_TIMEOUT_S)
    return per_server(names, patient, lambda srv: _measure_one(srv, patient, slow, seconds))
