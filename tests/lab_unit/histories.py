"""Hand-made histories for the checks' unit tests: a healthy one, and the pieces to break it."""

from __future__ import annotations

from typing import Any

from lab.chaos.model.checks import judge
from lab.chaos.model.client_result import ConnectionResult, ResponseResult, RunResult
from lab.chaos.model.history import CaseHistory, ClientOutcome, CpuWindow, TargetState
from lab.chaos.model.scenario import ANYTHING, ClientRun, Scenario, client
from lab.probe import Snapshot

REPRO = "python -m lab run some_case --seed 7"
HELLO_SHA = "x"


def snap(t: float = 0.0, *, fds: int = 8, established: int = 0, close_wait: int = 0, cpu: int = 10,
         rss_mib: float = 14, net: int = 0, wakeups: int = 0) -> Snapshot:
    """A reading; `cpu` in clock ticks of 10 ms, `net` the bytes the target's interfaces moved so far."""
    return Snapshot(t=t, pids=(1,), fds=fds, fd_kinds={}, tcp={"LISTEN": 1, "ESTABLISHED": established,
                                                                "CLOSE_WAIT": close_wait},
                    cpu_ticks=cpu, clk_tck=100, rss_bytes=int(rss_mib * (1 << 20)), start_ticks=5,
                    io_bytes=0, wakeups=wakeups, procs=((1, 5),), net_bytes=net)


def held(seconds: float, share: float, *, t: float = 3.0, established: int = 0) -> dict[str, Any]:
    """A held CPU window as the probe's stream sees it, with its readings every 0.25 s (a spin must span three):
    keyword arguments for `healthy`."""
    steps = round(seconds / 0.25)
    inside = [snap(t + step * seconds / steps, cpu=10 + round(share * step * seconds / steps * 100),
                   established=established) for step in range(1, steps)]
    return {"held_cpu": window(seconds, share, t=t, established=established),
            "samples": [snap(1.0), snap(2.0), *inside]}


def window(seconds: float, share: float, *, t: float = 3.0, established: int = 0) -> CpuWindow:
    """A CPU window of `share` of one core over `seconds` (clock ticks of 10 ms), from the healthy stream's CPU."""
    return CpuWindow(snap(t, cpu=10, established=established),
                     snap(t + seconds, cpu=10 + round(share * seconds * 100), established=established))


def response(status: int = 200, *, ok: bool | None = True, complete: bool = True) -> ResponseResult:
    return ResponseResult(status=status, body_len=13, body_sha256=HELLO_SHA, complete=complete, expected_ok=ok)


def connection(*responses: ResponseResult, index: int = 0, closed_by: str = "client", elapsed_s: float = 0.1,
               error: str | None = None, protocol_error: str | None = None) -> ConnectionResult:
    return ConnectionResult(index=index, responses=tuple(responses), bytes_sent=100, bytes_received=100,
                            error=error, closed_by=closed_by, elapsed_s=elapsed_s, first_byte_s=None,
                            protocol_error=protocol_error)


def outcome(run: ClientRun, *connections: ConnectionResult, exit_code: int | None = 0) -> ClientOutcome:
    result = RunResult(behaviour=run.behaviour, seed=7, attributes={}, duration_s=0.5,
                       connections=tuple(connections), summary={}) if exit_code == 0 else None
    return ClientOutcome(run, ["python3", "-m", "clients"], exit_code, result, "" if exit_code == 0 else "boom")


def answered(run: ClientRun, per_connection: int | None = None, **changes: Any) -> ClientOutcome:
    """Every connection of `run` got `per_connection` good responses (default: what its plan asks)."""
    count = run.must_get() if per_connection is None else per_connection
    return outcome(run, *(connection(*[response()] * count, index=i, **changes) for i in range(run.connections)))


RUN = client("connect_and_close", connections=3, expect=ANYTHING)
SCENARIO = Scenario("some_case", "test", (RUN,))


def healthy(**changes: Any) -> CaseHistory:
    up = TargetState(running=True, started_at="T0")
    history = CaseHistory(case_id="some_case", seed=7, target="bundled", repro=REPRO, baseline=snap(),
                          target_before=up, samples=[snap(1.0), snap(2.0)], clients=[answered(RUN)],
                          settled=snap(3.0), idle_cpu=window(1.5, 0.0), target_after=up)
    for key, value in changes.items():
        setattr(history, key, value)
    return history


def failed(scenario: Scenario, history: CaseHistory) -> dict[str, str]:
    return {v.check: v.message for v in judge(scenario, history) if v.failed}


def passed(scenario: Scenario, history: CaseHistory) -> dict[str, str]:
    return {v.check: v.message for v in judge(scenario, history) if v.applicable and v.ok}
