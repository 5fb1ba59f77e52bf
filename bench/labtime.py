"""The lab's own speed: `make lab-up` cold and warm, one chaos case end to end, the chaos suite serial and parallel.

cold = after `make lab-down` and removing the lab's three built service images (server, clients,
probe) and the lab's dangling older builds (with the classic builder those hold the layer cache),
so `make lab-up` rebuilds them from the base image; the base and Toxiproxy images stay, as on any
machine where `make prepare` ran once. warm = after `make lab-down` only: every image is current.
Each step that cannot run (the suite or `lab run` not there yet, Docker missing) is recorded as
{"error": ...} and the others carry on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.procs import spawned
from bench.servers import log_tail
from lab import settings

Json = dict[str, Any]
SERVICE_IMAGES = (settings.SERVER_IMAGE, settings.CLIENTS_IMAGE, settings.PROBE_IMAGE)
LAB_LABEL = "io.epoll-lab.lab=true"
STEP_TIMEOUT_S = float(os.environ.get("BENCH_LAB_TIMEOUT", "900"))
DOWN_TIMEOUT_S = 180.0


def timed(argv: Sequence[str], repo: Path, log: Path, timeout_s: float = STEP_TIMEOUT_S,
          ok_codes: tuple[int, ...] = (0,)) -> Json:
    """Runs one command to completion (its whole process group is stopped on timeout or error)."""
    started = time.monotonic()
    with log.open("wb") as out, spawned(argv, cwd=repo, stdout=out, stderr=subprocess.STDOUT) as proc:
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"error": f"`{' '.join(argv)}` did not finish within {timeout_s:.0f} s", "log": str(log)}
    seconds = time.monotonic() - started
    if code not in ok_codes:
        return {"error": f"`{' '.join(argv)}` exited with {code}: {log_tail(log, 3)}", "seconds": seconds,
                "log": str(log)}
    return {"seconds": seconds, "exit_code": code, "log": str(log)}


def _other_labs() -> list[str]:
    listed = subprocess.run(["docker", "ps", "-q", "--filter", f"label={LAB_LABEL}"], capture_output=True,
                            text=True, timeout=30, check=False)
    if listed.returncode != 0:
        raise RuntimeError(f"docker ps failed: {listed.stderr.strip()[-200:]}")
    return listed.stdout.split()


def _remove_built_images() -> None:
    for image in SERVICE_IMAGES:
        subprocess.run(["docker", "rmi", image], capture_output=True, timeout=120, check=False)
    # Older builds of the same images keep their layers, i.e. the classic builder's cache, alive.
    subprocess.run(["docker", "image", "prune", "-f", "--filter", f"label={LAB_LABEL}"], capture_output=True,
                   timeout=300, check=False)


def _lab_up_timings(repo: Path, logs: Path) -> Json:
    if shutil.which("docker") is None or shutil.which("make") is None:
        error = {"error": "docker or make is not installed"}
        return {"lab_up_cold": error, "lab_up_warm": error}
    running = _other_labs()
    if running and os.environ.get("BENCH_LAB_FORCE") != "1":
        # The cold start removes the lab's built images, which other running labs use.
        error = {"error": f"{len(running)} lab containers are running: the cold start would remove the images "
                          "they use; take them down first (`make lab-clean`) or set BENCH_LAB_FORCE=1"}
        return {"lab_up_cold": error, "lab_up_warm": error}
    results: Json = {}
    try:
        down = timed(["make", "-s", "lab-down"], repo, logs / "lab-down-0.log", DOWN_TIMEOUT_S)
        if "error" in down:
            raise RuntimeError(down["error"])
        _remove_built_images()
        results["lab_up_cold"] = timed(["make", "-s", "lab-up"], repo, logs / "lab-up-cold.log")
        timed(["make", "-s", "lab-down"], repo, logs / "lab-down-1.log", DOWN_TIMEOUT_S)
        results["lab_up_warm"] = timed(["make", "-s", "lab-up"], repo, logs / "lab-up-warm.log")
    except Exception as err:
        for key in ("lab_up_cold", "lab_up_warm"):
            results.setdefault(key, {"error": str(err)})
    finally:
        with contextlib.suppress(Exception):
            timed(["make", "-s", "lab-down"], repo, logs / "lab-down-2.log", DOWN_TIMEOUT_S)
    return results


def _case_timing(repo: Path, logs: Path, case: str) -> Json:
    python = repo / ".venv" / "bin" / "python"
    if not python.exists():
        return {"error": f"{python} is missing: run `make prepare`"}
    probe = subprocess.run([str(python), "-m", "lab", "run", "--help"], cwd=repo, capture_output=True,
                           timeout=60, check=False)
    if probe.returncode != 0:
        return {"error": "`python -m lab run` does not exist yet"}
    # Exit code 1: the case ran and some check failed; it still took the time it took.
    result = timed([str(python), "-m", "lab", "run", case, "--seed", "1"], repo, logs / f"lab-run-{case}.log",
                   ok_codes=(0, 1))
    return {**result, "case": case}


def _suite_timings(repo: Path, logs: Path) -> Json:
    suite = repo / "tests" / "chaos"
    pytest = repo / ".venv" / "bin" / "pytest"
    if not any(suite.glob("test_*.py")):
        error = {"error": "tests/chaos has no tests yet"}
        return {"chaos_serial": error, "chaos_parallel": error}
    if not pytest.exists():
        error = {"error": f"{pytest} is missing: run `make prepare`"}
        return {"chaos_serial": error, "chaos_parallel": error}
    base = [str(pytest), "-q", "-p", "no:cacheprovider", "-m", "not heavy", "tests/chaos"]
    # Exit code 1 means some cases failed: the suite still ran to the end, so its time counts.
    serial = timed([*base, "-n", "0"], repo, logs / "chaos-serial.log", ok_codes=(0, 1))
    parallel = timed([*base, "-n", "auto"], repo, logs / "chaos-parallel.log", ok_codes=(0, 1))
    for entry, log in ((serial, logs / "chaos-serial.log"), (parallel, logs / "chaos-parallel.log")):
        entry["summary"] = log_tail(log, 1)
    if "seconds" in serial and "seconds" in parallel and "error" not in serial and "error" not in parallel:
        parallel["speedup"] = serial["seconds"] / parallel["seconds"]
    return {"chaos_serial": serial, "chaos_parallel": parallel}


def measure(repo: Path, logs: Path, case: str) -> Json:
    logs.mkdir(parents=True, exist_ok=True)
    results: Json = {}
    steps: tuple[tuple[tuple[str, ...], Callable[[], Json]], ...] = (
        (("lab_up_cold", "lab_up_warm"), lambda: _lab_up_timings(repo, logs)),
        (("lab_run_case",), lambda: {"lab_run_case": _case_timing(repo, logs, case)}),
        (("chaos_serial", "chaos_parallel"), lambda: _suite_timings(repo, logs)),
    )
    for keys, step in steps:
        try:
            results.update(step())
        except Exception as err:  # one broken step must not cost the others
            results.update({key: {"error": str(err)} for key in keys})
    return results
