"""CPU microseconds per request: the serving process's utime+stime over a wrk run, divided by wrk's count."""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import wrk
from bench.procs import CLK_TCK, cpu_split
from bench.servers import Options, Running, running

Json = dict[str, Any]
# keepalive: wrk repeats one request, which our server answers from its memo of requests already
# parsed; distinct: every request new, so every one is parsed in full; pipelined: 16 per write.
WORKLOADS = ("keepalive", "distinct", "pipelined")
WORKLOAD_LABELS = {"keepalive": "keep-alive, one repeated request", "distinct": "keep-alive, distinct requests",
                   "pipelined": "pipelined"}


@dataclass(frozen=True)
class LoadSettings:
    seconds: float = 5.0
    repeats: int = 3
    connections: int = 50
    depth: int = 16
    warmup_s: float = 1.0


def _one_run(srv: Running, opts: Options, load: LoadSettings, script: Path | None) -> Json:
    user_before, sys_before = cpu_split(srv.pid)
    result = wrk.run(srv.port, cores=opts.cores, seconds=load.seconds, connections=load.connections, script=script)
    user_after, sys_after = cpu_split(srv.pid)
    if result.requests == 0:
        raise RuntimeError("wrk got no responses")
    user_s = (user_after - user_before) / CLK_TCK
    sys_s = (sys_after - sys_before) / CLK_TCK
    return {"us_per_request": (user_s + sys_s) * 1e6 / result.requests,
            "user_us_per_request": user_s * 1e6 / result.requests,
            "sys_us_per_request": sys_s * 1e6 / result.requests,
            "cpu_s": user_s + sys_s, **result.to_json()}


def _summary(runs: list[Json]) -> Json:
    return {
        "us_per_request": statistics.median(r["us_per_request"] for r in runs),
        "user_us_per_request": statistics.median(r["user_us_per_request"] for r in runs),
        "sys_us_per_request": statistics.median(r["sys_us_per_request"] for r in runs),
        "requests_per_s": statistics.median(r["requests_per_s"] for r in runs),
        "errors": sum(r["socket_errors"] + r["non_2xx"] for r in runs),
        "runs": runs,
    }


def measure(names: Sequence[str], opts: Options, load: LoadSettings) -> Json:
    """All servers run side by side (idle ones cost nothing); runs go round-robin so drift hits all alike."""
    scripts = {w: wrk.workload_script(w, opts.workdir, load.depth) for w in WORKLOADS}
    results: Json = {w: {} for w in WORKLOADS}
    runs: dict[tuple[str, str], list[Json]] = {}
    stack = contextlib.ExitStack()
    try:
        live: dict[str, Running] = {}
        for name in names:
            try:
                live[name] = stack.enter_context(running(name, opts))
                wrk.run(live[name].port, cores=opts.cores, seconds=load.warmup_s, connections=load.connections)
            except Exception as err:  # one server that cannot start must not stop the others
                for workload in WORKLOADS:
                    results[workload][name] = {"error": str(err)}
                live.pop(name, None)
        for _ in range(load.repeats):
            for workload in WORKLOADS:
                for name in live:
                    if name in results[workload]:
                        continue  # failed earlier
                    try:
                        runs.setdefault((workload, name), []).append(
                            _one_run(live[name], opts, load, scripts[workload]))
                    except Exception as err:
                        results[workload][name] = {"error": str(err)}
    finally:
        try:
            stack.close()
        except Exception as err:  # e.g. a server that died during its runs: keep what was measured
            results["stop_error"] = str(err)
    for (workload, name), done in runs.items():
        results[workload].setdefault(name, _summary(done))
    for workload in WORKLOADS:
        add_ratios(results[workload])
    results["settings"] = {"seconds": load.seconds, "repeats": load.repeats, "connections": load.connections,
                           "pipeline_depth": load.depth, "clk_tck": CLK_TCK,
                           "measured_process": "the serving process; for nginx its one worker (master excluded)"}
    return results


def add_ratios(by_server: Json) -> None:
    """Each server's µs per request divided by nginx's in the same workload (None without nginx)."""
    nginx = by_server.get("nginx", {}).get("us_per_request")
    for entry in by_server.values():
        if "us_per_request" in entry:
            entry["ratio_to_nginx"] = entry["us_per_request"] / nginx if nginx else None
