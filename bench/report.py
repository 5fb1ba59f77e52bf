"""Writing one run down: bench.json, bench.md (Markdown tables), ratios.png, and the table in docs/benchmarks.md."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench import syscalls
from bench.cpu import WORKLOAD_LABELS, WORKLOADS
from bench.servers import ALL_SERVERS

Json = dict[str, Any]
DOCS_BEGIN = "<!-- bench:results:begin (written by `make bench`; edit outside these markers) -->"
DOCS_END = "<!-- bench:results:end -->"
MIB = 1024 * 1024


def write_json(path: Path, results: Json) -> None:
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _num(value: Any, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, int | float) else "–"


def _error(entry: Json) -> str | None:
    return f"error: {entry['error']}" if "error" in entry else None


def _cpu_rows(cpu: Json) -> list[list[str]]:
    """One row per workload and server, grouped by workload so that each group has its nginx."""
    rows = []
    seen = {n for w in WORKLOADS for n in cpu.get(w, {})}
    for workload in WORKLOADS:
        by_server = cpu.get(workload, {})
        for name in [*ALL_SERVERS, *sorted(seen - set(ALL_SERVERS))]:
            entry = by_server.get(name)
            if entry is None:
                continue
            cells = [WORKLOAD_LABELS[workload], name]
            if (err := _error(entry)) is not None:
                rows.append([*cells, err, "", "", ""])
                continue
            rows.append([
                *cells,
                _num(entry["us_per_request"], ".2f"),
                f"{_num(entry['user_us_per_request'], '.1f')} + {_num(entry['sys_us_per_request'], '.1f')}",
                _num(entry.get("ratio_to_nginx"), ".2f"),
                _num(entry["requests_per_s"], ",.0f"),
            ])
    return rows


def _idle_rows(idle: Json) -> list[list[str]]:
    rows = []
    for name, entry in idle.items():
        if (err := _error(entry)) is not None:
            rows.append([name, err, "", "", "", ""])
            continue
        rows.append([
            name, f"{entry['connections']:,}", _num(entry["rss_before_bytes"] / MIB, ".1f"),
            _num(entry["rss_with_bytes"] / MIB, ".1f"), _num(entry["rss_per_connection_bytes"], ".0f"),
            _num(entry["idle_cpu_percent"], ".2f"),
            f"{entry['still_open_at_end']:,}",
        ])
    return rows


def _canary_rows(canary: Json) -> list[list[str]]:
    rows = []
    for name, entry in canary.items():
        if (err := _error(entry)) is not None:
            rows.append([name, err, "", "", "", "", ""])
            continue
        rows.append([
            name, f"{entry['slowloris_open']:,} ({entry['slowloris_still_open_at_end']:,} at end)",
            _num(entry["p50_ms"], ".3f"), _num(entry["p99_ms"], ".2f"), _num(entry["max_ms"], ".1f"),
            f"{entry['requests']:,}",
            f"{_num(entry['baseline_p50_ms'], '.3f')} / {_num(entry['baseline_p99_ms'], '.2f')}",
        ])
    return rows


def _syscall_rows(traced: Json, names: Sequence[str]) -> list[list[str]]:
    rows = []
    for server, entry in traced.items():
        if (err := _error(entry)) is not None:
            rows.append([server, err, *[""] * len(names)])
            continue
        rates = entry["per_request"]
        rows.append([server, _num(entry["total_per_request"], ".2f"),
                     *(_num(rates[n], ".3f") if n in rates else "0" for n in names)])
    return rows


LAB_STEPS = (
    ("lab_up_cold", "`make lab-up`, cold (service images rebuilt)"),
    ("lab_up_warm", "`make lab-up`, warm"),
    ("lab_run_case", "`python -m lab run CASE --seed 1`"),
    ("chaos_serial", "chaos suite, `-n 0`"),
    ("chaos_parallel", "chaos suite, `-n auto`"),
)


def _lab_rows(lab: Json) -> list[list[str]]:
    rows = []
    for key, label in LAB_STEPS:
        entry = lab.get(key)
        if entry is None:
            continue
        if key == "lab_run_case" and "case" in entry:
            label = label.replace("CASE", entry["case"])
        note = _error(entry) or entry.get("summary", "") or ("ok" if entry.get("exit_code") == 0 else
                                                            f"ran; some checks failed (exit {entry.get('exit_code')})")
        if "speedup" in entry:
            note += f" (speedup {entry['speedup']:.2f}x)"
        rows.append([label, _num(entry.get("seconds"), ".1f"), note.replace("|", "/")])
    return rows


def markdown(results: Json) -> str:
    meta = results.get("meta", {})
    tree = {True: "clean tree", False: "**uncommitted changes**"}.get(meta.get("clean_tree"), "tree state unknown")
    lines = [f"Run {meta.get('started_utc', '?')} of commit {meta.get('commit', '?')} ({tree}) on "
             f"{meta.get('cpu_model', '?')} ({meta.get('cpus', '?')} CPUs), "
             f"kernel {meta.get('kernel', '?')}, Python {meta.get('python', '?')}, {meta.get('nginx', '?')}; "
             f"load average {meta.get('loadavg_start', '?')} at the start "
             f"and {meta.get('loadavg_end', '?')} at the end; took {_num(meta.get('duration_s'), '.0f')} s.", ""]
    cpu = results.get("cpu_per_request")
    if cpu:
        settings = cpu.get("settings", {})
        lines += [f"**CPU per request** (µs of server user + system CPU per response; median of "
                  f"{settings.get('repeats', '?')} wrk runs of {settings.get('seconds', '?')} s, "
                  f"{settings.get('connections', '?')} connections; pipelined = "
                  f"{settings.get('pipeline_depth', '?')} requests per write). wrk repeats one request, "
                  "which our server answers from its memo of requests already parsed; the distinct workload "
                  "makes every request new (`GET /?n=1`, `/?n=2`, ...), so it shows the cost of a full parse.",
                  ""]
        lines += _table(["workload", "server", "µs/req", "user + sys", "× nginx", "req/s"], _cpu_rows(cpu))
        lines.append("")
    traced = results.get("syscalls_per_request")
    if traced:
        names = syscalls.columns(traced)
        some: Json = next((e for e in traced.values() if "seconds" in e), {})
        lines += [f"**Syscalls per keep-alive request** (`strace -f -c` attached to the serving process over a "
                  f"{_num(some.get('seconds'), 'g')} s wrk run, {_num(some.get('connections'), 'd')} connections; "
                  "calls divided by the responses wrk counted)", ""]
        lines += _table(["server", "total", *names], _syscall_rows(traced, names))
        lines.append("")
    idle = results.get("idle_10k")
    if idle:
        lines += ["**Idle keep-alive connections** (RSS of the serving process before and with them; idle CPU "
                  "over the window after they are open)", ""]
        lines += _table(["server", "connections", "RSS before MiB", "RSS with MiB", "bytes/connection",
                         "idle CPU %", "still open"], _idle_rows(idle))
        lines.append("")
    canary = results.get("canary")
    if canary:
        lines += ["**Canary latency with slowloris connections open** (sequential keep-alive `GET /`)", ""]
        lines += _table(["server", "slowloris open", "p50 ms", "p99 ms", "max ms", "requests",
                         "without slowloris p50 / p99 ms"], _canary_rows(canary))
        lines.append("")
    lab = results.get("lab")
    if lab:
        lines += ["**The lab's own speed**", ""]
        lines += _table(["step", "seconds", "result"], _lab_rows(lab))
        lines.append("")
    targets = results.get("targets", [])
    if targets:
        verdict = {True: "met", False: "**missed**", None: "not measured"}
        lines += ["**Targets**", ""]
        lines += _table(["target", "measured", "result"],
                        ([t["target"], t["measured"], verdict[t["met"]]] for t in targets))
        lines.append("")
    return "\n".join(lines)


def plot(results: Json, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cpu = results.get("cpu_per_request", {})
    names = [n for n in ALL_SERVERS if any("ratio_to_nginx" in cpu.get(w, {}).get(n, {}) for w in WORKLOADS)]
    if not names:
        raise RuntimeError("no CPU ratios to plot")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / len(WORKLOADS)
    for k, workload in enumerate(WORKLOADS):
        offset = (k - (len(WORKLOADS) - 1) / 2) * width
        values = [cpu.get(workload, {}).get(n, {}).get("ratio_to_nginx") or 0.0 for n in names]
        bars = ax.bar([i + offset for i in range(len(names))], values, width, label=WORKLOAD_LABELS[workload])
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.axhline(1.5, color="red", linestyle="--", linewidth=0.8, label="keep-alive target for ours (1.5x)")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("CPU per request / nginx's")
    ax.set_title(f"CPU per request relative to nginx ({results.get('meta', {}).get('started_utc', '')})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def target_lines(targets: Sequence[Json]) -> str:
    """The verdicts as plain lines for the terminal: `MET`, `MISSED` or `n/a`, target, measured."""
    verdict = {True: "MET   ", False: "MISSED", None: "n/a   "}
    lines = ["bench: targets (from this run):"]
    lines += [f"  {verdict[t['met']]} {t['target']}: {t['measured']}" for t in targets]
    return "\n".join(lines)


def update_docs(docs: Path, table: str) -> None:
    text = docs.read_text()
    begin, end = text.find(DOCS_BEGIN), text.find(DOCS_END)
    if begin < 0 or end < begin:
        raise RuntimeError(f"{docs} lacks the markers {DOCS_BEGIN!r} ... {DOCS_END!r}")
    docs.write_text(text[: begin + len(DOCS_BEGIN)] + "\n\n" + table.strip() + "\n\n" + text[end:])
