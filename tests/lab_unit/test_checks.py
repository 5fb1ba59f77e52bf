"""The checks are pure functions of a history: judged here on hand-made histories, no containers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from lab.chaos.checks import CHECK_NAMES, judge
from lab.chaos.history import CanarySample, CaseHistory, ClientOutcome, CpuWindow, TargetState
from lab.chaos.scenario import ANYTHING, Expect, Scenario, StopTarget, client
from lab.probe import Snapshot

REPRO = "python -m lab run some_case --seed 7"


def snap(t: float = 0.0, *, fds: int = 8, established: int = 0, close_wait: int = 0, cpu: int = 10,
         rss_mib: int = 14) -> Snapshot:
    return Snapshot(t=t, pids=(1,), fds=fds, fd_kinds={}, tcp={"LISTEN": 1, "ESTABLISHED": established,
                                                                "CLOSE_WAIT": close_wait},
                    cpu_ticks=cpu, clk_tck=100, rss_bytes=rss_mib << 20, start_ticks=5)


def response(status: int = 200, *, ok: bool | None = True, complete: bool = True) -> dict[str, Any]:
    return {"status": status, "body_len": 13, "body_sha256": "x", "complete": complete, "expected_ok": ok}


def connection(*responses: dict[str, Any], closed_by: str = "client", elapsed_s: float = 0.1,
               error: str | None = None) -> dict[str, Any]:
    return {"index": 0, "responses": list(responses), "closed_by": closed_by, "elapsed_s": elapsed_s,
            "error": error}


def outcome(run: Any, *connections: dict[str, Any], exit_code: int | None = 0) -> ClientOutcome:
    result = {"connections": list(connections), "summary": {}} if exit_code == 0 else None
    return ClientOutcome(run, ["python3", "-m", "clients"], exit_code, result, "" if exit_code == 0 else "boom")


RUN = client("connect_and_close", connections=3, expect=ANYTHING)
SCENARIO = Scenario("some_case", "test", (RUN,))


def healthy(**changes: Any) -> CaseHistory:
    up = TargetState(running=True, started_at="T0")
    history = CaseHistory(case_id="some_case", seed=7, target="bundled", repro=REPRO, baseline=snap(),
                          target_before=up, samples=[snap(1.0), snap(2.0)], clients=[outcome(RUN, connection())],
                          settled=snap(3.0), idle_cpu=CpuWindow(snap(3.0, cpu=20), snap(4.5, cpu=21)),
                          target_after=up)
    for key, value in changes.items():
        setattr(history, key, value)
    return history


def failed(scenario: Scenario, history: CaseHistory) -> dict[str, str]:
    return {v.check: v.message for v in judge(scenario, history) if v.failed}


def test_a_healthy_history_passes_every_check() -> None:
    verdicts = judge(SCENARIO, healthy())
    assert [v.check for v in verdicts] == list(CHECK_NAMES)
    assert not [v for v in verdicts if v.failed]


def test_fd_leak_and_close_wait_name_the_numbers_and_the_repro() -> None:
    found = failed(SCENARIO, healthy(settled=snap(3.0, fds=11, close_wait=3)))
    assert set(found) == {"fd_leak", "close_wait"}
    assert "fd count 8 → 11 after 3 × connect_and_close" in found["fd_leak"]
    assert "3 sockets in CLOSE_WAIT" in found["close_wait"]
    assert REPRO in found["fd_leak"] and REPRO in found["close_wait"]


def test_stale_connections_are_counted_against_the_baseline() -> None:
    history = healthy(baseline=snap(established=1), settled=snap(3.0, established=1))
    assert "stale_connection" not in failed(SCENARIO, history)
    history.settled = snap(3.0, established=3)
    assert "2 ESTABLISHED sockets" in failed(SCENARIO, history)["stale_connection"]


def test_cpu_spin_after_the_case_and_while_clients_hold_on() -> None:
    spinning = CpuWindow(snap(3.0, cpu=0), snap(4.0, cpu=95))
    assert "95% of a core" in failed(SCENARIO, healthy(idle_cpu=spinning))["cpu_spin"]
    assert "while the clients held on" in failed(SCENARIO, healthy(busy_cpu=spinning))["cpu_spin"]


def test_memory_growth_uses_the_peak_and_the_case_limit() -> None:
    history = healthy(samples=[snap(1.0, rss_mib=14 + 100), snap(2.0)])
    assert "+100 MiB" in failed(SCENARIO, history)["memory_growth"]
    roomy = replace(SCENARIO, limits=replace(SCENARIO.limits, max_rss_growth_bytes=200 << 20))
    assert "memory_growth" not in failed(roomy, history)


def test_crash_when_the_target_exited_or_restarted() -> None:
    died = healthy(target_after=TargetState(running=False, started_at="T0", exit_code=1), settled=None,
                   idle_cpu=None)
    found = failed(SCENARIO, died)
    assert set(found) == {"crash"}  # the /proc checks cannot judge a dead target: not applicable
    assert "exited with code 1" in found["crash"]
    restarted = healthy(target_after=TargetState(running=True, started_at="T1"))
    assert "restarted" in failed(SCENARIO, restarted)["crash"]


def test_stop_target_wants_exit_zero_within_the_deadline() -> None:
    scenario = replace(SCENARIO, fault=StopTarget(deadline_s=10))
    stopped = dict(target_after=TargetState(running=False, started_at="T0", exit_code=0), settled=None,
                   idle_cpu=None)
    assert "crash" not in failed(scenario, healthy(stop_elapsed_s=2.0, **stopped))
    assert "crash" in failed(scenario, healthy(stop_elapsed_s=12.0, **stopped))
    killed = dict(stopped, target_after=TargetState(running=False, started_at="T0", exit_code=137))
    assert "exit code 137" in failed(scenario, healthy(stop_elapsed_s=2.0, **killed))["crash"]


def test_wrong_response_for_a_bad_status_or_a_bad_body() -> None:
    run = client("well_behaved")
    scenario = Scenario("some_case", "test", (run,))
    good = healthy(clients=[outcome(run, connection(response()))])
    assert not failed(scenario, good)
    bad_body = healthy(clients=[outcome(run, connection(response(ok=False)))])
    assert "differs from what was expected" in failed(scenario, bad_body)["wrong_response"]
    bad_status = healthy(clients=[outcome(run, connection(response(500, ok=False)))])
    assert "status 500, expected 200" in failed(scenario, bad_status)["wrong_response"]


def test_stall_when_responses_are_missing_or_the_client_never_finished() -> None:
    run = client("pipelined", requests=2, expect=Expect(responses=2))
    scenario = Scenario("some_case", "test", (run,))
    short = healthy(clients=[outcome(run, connection(response(), closed_by="deadline", elapsed_s=10.0))])
    assert "1 of 2 responses complete after 10.0 s (closed by deadline)" in failed(scenario, short)["stall"]
    hung = healthy(clients=[outcome(run, exit_code=None)])
    assert "did not finish within its deadline" in failed(scenario, hung)["stall"]
    after = healthy(after_request_error="ConnectionRefusedError: refused")
    assert "a fresh GET / after the case failed" in failed(SCENARIO, after)["stall"]


def test_slow_canary_on_failures_or_latency() -> None:
    scenario = replace(SCENARIO, canary=True)
    fast = [CanarySample(t, 0.005) for t in range(20)]
    assert "slow_canary" not in failed(scenario, healthy(canary=fast))
    slow = [*fast, CanarySample(21, 2.5)]
    assert "max 2500 ms" in failed(scenario, healthy(canary=slow))["slow_canary"]
    broken = [*fast, CanarySample(21, None, "ConnectionResetError")]
    assert "1 of 21 canary requests failed" in failed(scenario, healthy(canary=broken))["slow_canary"]
    assert "made no request" in failed(scenario, healthy(canary=[]))["slow_canary"]


@pytest.mark.parametrize(("closed_by", "elapsed_s", "caught"), [
    ("server_fin", 2.1, False), ("server_reset", 3.0, False), ("server_fin", 9.0, True), ("deadline", 10.0, True),
])
def test_no_timeout_wants_the_server_to_cut_the_client_off_in_time(closed_by: str, elapsed_s: float,
                                                                   caught: bool) -> None:
    run = client("slowloris", expect=Expect(responses=0, statuses=None, cut_off_s=4.5))
    scenario = Scenario("some_case", "test", (run,))
    history = healthy(clients=[outcome(run, connection(closed_by=closed_by, elapsed_s=elapsed_s))])
    assert ("no_timeout" in failed(scenario, history)) is caught


def test_stale_connection_also_asks_the_bundled_servers_registry() -> None:
    scenario = replace(SCENARIO, requires=frozenset({"stats"}))
    forgotten = healthy(stats_before={"open_connections": 1}, stats_after={"open_connections": 1})
    assert "stale_connection" not in failed(scenario, forgotten)
    held = healthy(stats_before={"open_connections": 1}, stats_after={"open_connections": 4})
    assert "still holds 3 connections" in failed(scenario, held)["stale_connection"]
    unreadable = healthy(stats_before={"open_connections": 1}, stats_after=None)
    assert "could not be read" in failed(scenario, unreadable)["stale_connection"]
