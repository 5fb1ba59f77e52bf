"""The issue's targets, checked against one run's results: met, missed, or not measured."""

from __future__ import annotations

from typing import Any

from bench.servers import OURS

Json = dict[str, Any]
MAX_RATIO_TO_NGINX = 2.0
MAX_BYTES_PER_IDLE_CONNECTION = 1024
MAX_IDLE_CPU_PERCENT = 1.0
MAX_CANARY_P99_MS = 10.0
MIN_PARALLEL_SPEEDUP = 1.2  # "clearly faster": -n auto takes at most 1/1.2 of the serial time


def _target(text: str, value: str, met: bool | None) -> Json:
    return {"target": text, "measured": value, "met": met}


def _cpu_targets(cpu: Json) -> list[Json]:
    found: list[Json] = []
    for workload in ("keepalive", "pipelined"):
        by_server = cpu.get(workload, {})
        uvicorn = by_server.get("uvicorn", {}).get("us_per_request")
        for name in OURS:
            ours = by_server.get(name, {})
            ratio = ours.get("ratio_to_nginx")
            found.append(_target(
                f"{name} {workload}: CPU/request <= {MAX_RATIO_TO_NGINX:g}x nginx",
                f"{ratio:.2f}x" if ratio is not None else "not measured",
                None if ratio is None else ratio <= MAX_RATIO_TO_NGINX,
            ))
            us = ours.get("us_per_request")
            found.append(_target(
                f"{name} {workload}: less CPU/request than uvicorn",
                f"{us:.1f} vs {uvicorn:.1f} µs" if us is not None and uvicorn is not None else "not measured",
                None if us is None or uvicorn is None else us < uvicorn,
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
    speedup = lab.get("chaos_parallel", {}).get("speedup")
    return [_target(
        f"chaos suite: -n auto at least {MIN_PARALLEL_SPEEDUP:g}x faster than serial",
        f"{speedup:.2f}x" if speedup is not None else "not measured",
        None if speedup is None else speedup >= MIN_PARALLEL_SPEEDUP,
    )]


def evaluate(results: Json) -> list[Json]:
    return [
        *_cpu_targets(results.get("cpu_per_request", {})),
        *_idle_targets(results.get("idle_10k", {})),
        *_canary_targets(results.get("canary", {})),
        *_lab_targets(results.get("lab", {})),
    ]
