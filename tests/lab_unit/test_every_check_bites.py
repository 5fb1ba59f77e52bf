"""Every check proves it can fail: a history that trips it, and the healthy one that does not."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from lab.chaos.model import checks
from lab.chaos.model.checks import CHECK_NAMES, judge
from lab.chaos.model.history import CanarySample, CaseHistory, TargetState
from lab.chaos.model.scenario import Expect, HeldCpu, Scenario, client
from tests.lab_unit.histories import (
    SCENARIO,
    answered,
    connection,
    failed,
    healthy,
    held,
    outcome,
    passed,
    response,
    snap,
    window,
)

KiB, MiB = 1 << 10, 1 << 20
PIPELINED = client("pipelined", connections=1, requests=20)
SLOWLORIS = client("slowloris", expect=Expect(responses=0, statuses=None, cut_off_s=4.5))
IDLE_FLOOD = client("flood", connections=2000, concurrency=2000, hold_s=4, idle=True)


def _case(*runs: object, **changes: object) -> Scenario:
    return replace(Scenario("some_case", "test", tuple(runs)), **changes)  # type: ignore[arg-type]


# check -> (the scenario, a history that must trip it); the healthy history of the same scenario must not.
TRIPS: dict[str, tuple[Scenario, Callable[[], CaseHistory]]] = {
    "fd_leak": (SCENARIO, lambda: healthy(settled=snap(3.0, fds=12))),
    "close_wait": (SCENARIO, lambda: healthy(settled=snap(3.0, fds=8, close_wait=2))),
    "stale_connection": (SCENARIO, lambda: healthy(settled=snap(3.0, established=2))),
    "cpu_spin": (_case(IDLE_FLOOD, held_cpu=HeldCpu(2000)),
                 lambda: healthy(clients=[answered(IDLE_FLOOD)], **held(1.0, 0.9, established=2000))),
    "memory_growth": (_case(IDLE_FLOOD),
                      lambda: healthy(clients=[answered(IDLE_FLOOD)],
                                      samples=[snap(1.0, established=2000, rss_mib=14 + 2000 * 32 / 1024)])),
    "crash": (SCENARIO, lambda: healthy(target_after=TargetState(running=False, started_at="T0", exit_code=1))),
    "wrong_response": (_case(PIPELINED),
                       lambda: healthy(clients=[outcome(PIPELINED, connection(*[response(404, ok=False)] * 20))])),
    "stall": (_case(PIPELINED), lambda: healthy(clients=[outcome(PIPELINED, connection(response()))])),
    "slow_canary": (replace(SCENARIO, canary=True), lambda: healthy(canary=[CanarySample(0, 0.9)])),
    "no_timeout": (_case(SLOWLORIS), lambda: healthy(clients=[outcome(SLOWLORIS, connection(closed_by="deadline",
                                                                                         elapsed_s=10))])),
}


def test_every_check_has_a_tripping_history() -> None:
    assert set(TRIPS) == set(CHECK_NAMES)


def _healthy_for(scenario: Scenario) -> CaseHistory:
    history = healthy(clients=[answered(run, closed_by="server_fin", elapsed_s=run.expect.cut_off_s - 1)
                               if run.expect.cut_off_s else answered(run) for run in scenario.clients])
    if scenario.canary:
        history.canary = [CanarySample(t, 0.004) for t in range(10)]
    if scenario.held_cpu is not None:
        history.held_cpu = window(1.0, 0.01, established=scenario.held_cpu.connections)
    return history


@pytest.mark.parametrize("check", CHECK_NAMES)
def test_the_check_trips_on_its_history_and_passes_the_healthy_one(check: str) -> None:
    scenario, tripping = TRIPS[check]
    assert check in failed(scenario, tripping())
    assert check not in failed(scenario, _healthy_for(scenario))


# -- CPU while connections are held -----------------------------------------------------------------
def test_cpu_while_idle_connections_are_held_must_be_near_zero() -> None:
    scenario = _case(IDLE_FLOOD, held_cpu=HeldCpu(2000))
    spinning = healthy(clients=[answered(IDLE_FLOOD)], **held(1.0, 0.30, established=2000))
    message = failed(scenario, spinning)["cpu_spin"]
    assert "with no client traffic at 3.00-4.00 s (1.00 s with no client traffic): 30% of a core" in message
    assert "30.0% of a core over 1.0 s while 2000 connections were held" in message
    quiet = healthy(clients=[answered(IDLE_FLOOD)], held_cpu=window(1.0, 0.02, established=2000))
    assert "2.0% of a core over 1.0 s while 2000 connections were held" in passed(scenario,
                                                                                             quiet)["cpu_spin"]


def test_a_busy_hold_is_bounded_per_mib_moved() -> None:
    held = HeldCpu(3, mib_per_s=0.6)  # 0.05 + 0.05 s/MiB × 0.6 MiB/s = 8% of a core
    assert held.bound == pytest.approx(0.08)
    run = client("slow_reader", connections=3, response_bytes=MiB, expect=Expect(responses=0, statuses=None))
    scenario = _case(run, held_cpu=held)
    assert "cpu_spin" not in failed(scenario, healthy(clients=[answered(run)],
                                                      held_cpu=window(1.0, 0.07, established=3)))
    assert "cpu_spin" in failed(scenario, healthy(clients=[answered(run)], held_cpu=window(1.0, 0.5, established=3)))


def unread_hold(**changes: object) -> CaseHistory:
    """No held window, and no reading of the target while the connections were held (from 1 s to 6 s)."""
    readings = [snap(n / 4) for n in range(1, 5)] + [snap(6 + n / 4) for n in range(9)]
    return healthy(samples=readings, settled=snap(7.0), idle_cpu=window(0.5, 0.0, t=7.25), started=0.0,
                   observed_until=8.0, **changes)


# Remove the mark when merging h1's cpu_spin (issue 21 item 2): it judges CPU from the whole stream, and says
# `missing` when the stream has a gap; today's cpu_spin passes a hold it never measured.
def test_a_hold_never_measured_nor_read_is_missing_data_not_a_pass() -> None:
    scenario = _case(IDLE_FLOOD, held_cpu=HeldCpu(2000))
    history = unread_hold(clients=[answered(IDLE_FLOOD)], held_error="timed out after 10 s waiting for the target")
    verdicts = judge(scenario, history)
    (cpu,) = [verdict for verdict in verdicts if verdict.check == "cpu_spin"]
    assert cpu.missing and not cpu.failed
    assert checks.outcome(verdicts) == "error"


# -- memory per held connection ------------------------------------------------------------------------
@pytest.mark.parametrize(("per_connection", "caught"), [(1 * KiB, False), (12 * KiB, False), (32 * KiB, True)])
def test_memory_growth_is_bounded_per_held_connection(per_connection: int, caught: bool) -> None:
    scenario = _case(IDLE_FLOOD)
    growth_mib = 2000 * per_connection / MiB
    history = healthy(clients=[answered(IDLE_FLOOD)], samples=[snap(1.0, established=2000, rss_mib=14 + growth_mib),
                                                               snap(2.0)])
    assert ("memory_growth" in failed(scenario, history)) is caught


def test_memory_growth_names_the_rule() -> None:
    history = healthy(samples=[snap(1.0, established=2000, rss_mib=14 + 62.5)])
    message = failed(SCENARIO, history)["memory_growth"]
    assert "32.0 KiB per held connection" in message
    assert "8 MiB + 16 KiB × 2000 connections held at the peak = 39.2 MiB" in message


def test_without_held_connections_only_the_constant_is_allowed() -> None:
    assert "memory_growth" in failed(SCENARIO, healthy(samples=[snap(1.0, rss_mib=14 + 9)]))
    assert "memory_growth" not in failed(SCENARIO, healthy(samples=[snap(1.0, rss_mib=14 + 7)]))


def test_canary_requests_in_a_held_window_are_allowed_their_work() -> None:
    scenario = _case(IDLE_FLOOD, held_cpu=HeldCpu(2000), canary=True)
    busy = window(1.0, 0.08, t=3.0, established=2000)
    canary = [CanarySample(3.0 + i / 40, 0.002) for i in range(40)]  # 40 requests inside the window
    history = healthy(clients=[answered(IDLE_FLOOD)], held_cpu=busy, canary=canary)
    assert "cpu_spin" in passed(scenario, history)  # 5% + 40 × 2 ms / 1 s = 13%
    # Over the bound for a second is a burst unless it burns 0.2 s beyond it (lab.chaos.model.cpu_stream): 50% does.
    assert "cpu_spin" in failed(scenario, replace(history, **held(1.0, 0.5, t=3.0, established=2000)))


def test_a_history_with_typed_results_is_still_plain_json() -> None:
    scenario = _case(PIPELINED, held_cpu=HeldCpu(1))
    history = _healthy_for(scenario)
    encoded = json.loads(json.dumps(history.to_json()))
    assert encoded["clients"][0]["result"]["connections"][0]["responses"][0]["status"] == 200
    assert encoded["held_cpu"]["cpu_share"] == 0.01
