"""`python -m bench`: every measurement in one run, written to results/bench-<UTC>/ and docs/benchmarks.md.

Sections: cpu (CPU per request against nginx, uvicorn and asyncio), syscalls (strace -c per keep-alive
request), idle (10,000 idle connections), canary (latency with 2,000 slowloris connections open), lab (the
lab's own speed). A section or server that fails is recorded as {"error": ...}; the run goes on.

docs/benchmarks.md is rewritten only by a full run from a clean git tree, so its table always names a
commit that can be checked out and measured again.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import canary, cpu, idle, labtime, report, syscalls, targets
from bench.procs import Cores, raise_nofile
from bench.servers import ALL_SERVERS, OURS, Options

Json = dict[str, Any]
REPO = Path(__file__).resolve().parent.parent
SECTIONS = ("cpu", "syscalls", "idle", "canary", "lab")


def _command_output(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unavailable ({type(err).__name__})"
    return (done.stdout + done.stderr).strip().splitlines()[0] if (done.stdout + done.stderr).strip() else "?"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def tree_state() -> tuple[str, bool]:
    """(short commit, clean): clean when git knows of no change to a tracked file."""
    commit = _command_output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    try:
        done = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return commit, False
    return commit, done.returncode == 0 and not done.stdout.strip()


def _meta(started: datetime, cores: Cores) -> Json:
    commit, clean = tree_state()
    return {
        "started_utc": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "server_core": cores.server,
        "load_core": cores.load,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "nginx": _command_output(["nginx", "-v"]).removeprefix("nginx version: "),
        "wrk": _command_output(["wrk", "-v"]).split(" [")[0],
        "commit": commit,
        "clean_tree": clean,
        "loadavg_start": _loadavg(),
    }


def _stop_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`, which stops every child


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", action="append", choices=SECTIONS, help="run only this section (repeatable)")
    p.add_argument("--skip-lab", action="store_true", help="leave out the lab section (no Docker needed)")
    p.add_argument("--servers", default=",".join(ALL_SERVERS), help="servers of the cpu section, comma-separated")
    p.add_argument("--seconds", type=float, default=5.0, help="length of one wrk run")
    p.add_argument("--repeats", type=int, default=3, help="wrk runs per server and workload (median taken)")
    p.add_argument("--strace-seconds", type=float, default=2.0, help="length of the wrk run under strace -c")
    p.add_argument("--idle-connections", type=int, default=10_000)
    p.add_argument("--slowloris", type=int, default=2000)
    p.add_argument("--case", default=os.environ.get("BENCH_CASE", "pipelined"), help="the chaos case to time")
    p.add_argument("--out", type=Path, default=REPO / "results", help="results/bench-<UTC>/ goes here")
    p.add_argument("--no-docs", action="store_true", help="do not copy the table into docs/benchmarks.md")
    return p


def run_sections(args: argparse.Namespace, opts: Options, out_dir: Path) -> Json:
    chosen = args.only or [s for s in SECTIONS if not (s == "lab" and args.skip_lab)]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    results: Json = {}
    runners: dict[str, tuple[str, Callable[[], Json]]] = {
        "cpu": ("cpu_per_request", lambda: cpu.measure(
            servers, opts, cpu.LoadSettings(seconds=args.seconds, repeats=args.repeats))),
        "syscalls": ("syscalls_per_request", lambda: syscalls.measure(
            [s for s in servers if s in (*OURS, "nginx")], opts, seconds=args.strace_seconds)),
        "idle": ("idle_10k", lambda: idle.measure([*OURS, "nginx"], opts, count=args.idle_connections)),
        "canary": ("canary", lambda: canary.measure([*OURS, "nginx"], opts, slow=args.slowloris)),
        "lab": ("lab", lambda: labtime.measure(REPO, out_dir / "lab-logs", args.case)),
    }
    for section in SECTIONS:
        if section not in chosen:
            continue
        key, runner = runners[section]
        print(f"bench: {section} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            results[key] = runner()
        except Exception as err:  # a section that breaks is a result too
            results[key] = {"error": f"{type(err).__name__}: {err}"}
        print(f"bench: {section} took {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return results


def docs_refusal(*, no_docs: bool, only: Sequence[str] | None, meta: Json) -> str | None:
    """Why this run may not replace the published table, or None: only a full run of a clean tree may."""
    if no_docs:
        return "--no-docs"
    if only:
        return "only some sections ran"
    if not meta.get("clean_tree"):
        return (f"the tree had uncommitted changes to tracked files (commit {meta.get('commit', '?')} plus edits); "
                "commit them and run again")
    return None


def _update_docs(args: argparse.Namespace, meta: Json, table: str) -> None:
    why_not = docs_refusal(no_docs=args.no_docs, only=args.only, meta=meta)
    if why_not is not None:
        print(f"bench: docs/benchmarks.md left alone: {why_not}", file=sys.stderr)
        return
    try:
        report.update_docs(REPO / "docs" / "benchmarks.md", table)
    except (OSError, RuntimeError) as err:
        print(f"bench: docs/benchmarks.md not updated: {err}", file=sys.stderr)
        return
    print("bench: docs/benchmarks.md updated (commit it)", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGHUP, _stop_on_sigterm)
    raise_nofile()  # the helpers inherit it; the servers raise their own
    started = datetime.now(UTC)
    clock = time.monotonic()
    out_dir = args.out / f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    cores = Cores.detect()
    results: Json = {"meta": _meta(started, cores)}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        opts = Options(repo=REPO, workdir=Path(tmp), cores=cores)
        results.update(run_sections(args, opts, out_dir))
    results["meta"]["loadavg_end"] = _loadavg()
    results["meta"]["duration_s"] = time.monotonic() - clock
    results["targets"] = targets.evaluate(results)
    report.write_json(out_dir / "bench.json", results)
    table = report.markdown(results)
    (out_dir / "bench.md").write_text(table + "\n")
    try:
        report.plot(results, out_dir / "ratios.png")
    except Exception as err:
        print(f"bench: no plot: {err}", file=sys.stderr)
    print(table)
    print(report.target_lines(results["targets"]), file=sys.stderr)
    _update_docs(args, results["meta"], table)
    print(f"bench: results in {out_dir}", file=sys.stderr)
    return 0
