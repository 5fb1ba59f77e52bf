"""The targets (issue 12), checked against one run's own results: met, missed, or not measured."""

from __future__ import annotations

from typing import Any

from bench.cpu import WORKLOAD_LABELS
from bench.servers import OURS

Json = dict[str, Any]
# CPU per request relative to nginx's in the same run, per workload. The keep-alive target is judged
# on both keep-alive workloads: with the one request wrk repeats (our memo answers it) and with distinct ones.
MAX_RATIO_TO_NGINX = {"keepalive": 1.5, "distinct": 1.5, "pipelined": 1.0}
MAX_BYTES_PER_IDLE_CONNECTION = 512
MAX_IDLE_CPU_PERCENT = 1.0
MAX_CANARY_P99_MS = 10.0
MIN_PARALLEL_SPEEDUP = 1.2  # "clearly faster": -n auto takes at most 1/1.2 of the serial time
MAX_WARM_LAB_UP_S = 3.0


def _target(text: str, value: str, met: bool | None) -> Json:
    return {"target": text, "measured": value, "met": met}


def _cpu_targets(cpu: Json) -> list[Json]:
    found: list[Json] = []
    for workload, limit in MAX_RATIO_TO_NGINX.items():
        by_server = cpu.get(workload, {})
        nginx = by_server.get("nginx", {}).get("us_per_request")
        for name in OURS:
            ours = by_server.get(name, {})
            ratio, us = ours.get("ratio_to_nginx"), ours.get("us_per_request")
            found.append(_target(
                f"{name} {WORKLOAD_LABELS[workload]}: CPU/request <= {limit:g}x nginx",
                f"{ratio:.2f}x ({us:.2f} vs {nginx:.2f} µs)" if ratio is not None else "not measured",
                None if ratio is None else ratio <= limit,
            ))
    return found


def _idle_targets(idle: Json) -> list[Json]:
    found: list[Json] = []
    for name in OURS:
        entry = idle.get(name, {})
        per_conn = entry.get("rss_per_connection_bytes")
        cpu = entry.get("idle_cpu_percent")
        found.append(_target(
            f"{name}: RSS per idle connection <= {MAX_BYTES_PER_IDLE_CONNECTION} B at 10k",
            f"{per_conn:.0f} B" if per_conn is not None else "not measured",
            None if per_conn is None else per_conn <= MAX_BYTES_PER_IDLE_CONNECTION,
        ))
        found.append(_target(
            f"{name}: idle CPU < {MAX_IDLE_CPU_PERCENT:g}% with 10k idle connections",
            f"{cpu:.2f}%" if cpu is not None else "not measured",
            None if cpu is None else cpu < MAX_IDLE_CPU_PERCENT,
        ))
    return found


def _canary_targets(canary: Json) -> list[Json]:
    found: list[Json] = []
    for name in OURS:
        p99 = canary.get(name, {}).get("p99_ms")
        found.append(_target(
            f"{name}: canary p99 < {MAX_CANARY_P99_MS:g} ms with 2,000 slowloris",
            f"{p99:.2f} ms" if p99 is not None else "not measured",
            None if p99 is None else p99 < MAX_CANARY_P99_MS,
        ))
    return found


def _lab_targets(lab: Json) -> list[Json]:
    if not lab:
        return []
    speedup = lab.get("chaos_parallel", {}).get("speedup")
    warm = lab.get("lab_up_warm", {})
    warm_s = warm.get("seconds") if "error" not in warm and warm.get("exit_code", 0) == 0 else None
    return [
        _target(
            f"chaos suite: -n auto at least {MIN_PARALLEL_SPEEDUP:g}x faster than serial",
            f"{speedup:.2f}x" if speedup is not None else "not measured",
            None if speedup is None else speedup >= MIN_PARALLEL_SPEEDUP,
        ),
        _target(
            f"warm `make lab-up` under {MAX_WARM_LAB_UP_S:g} s",
            f"{warm_s:.1f} s" if warm_s is not None else "not measured",
            None if warm_s is None else warm_s < MAX_WARM_LAB_UP_S,
        ),
    ]


def evaluate(results: Json) -> list[Json]:
    """The targets of the sections that ran (a section left out by --only is not listed)."""
    found: list[Json] = []
    if "cpu_per_request" in results:
        found += _cpu_targets(results["cpu_per_request"])
    if "idle_10k" in results:
        found += _idle_targets(results["idle_10k"])
    if "canary" in results:
        found += _canary_targets(results["canary"])
    if "lab" in results:
        found += _lab_targets(results["lab"])
    return found
