"""The runner's held-phase CPU window, on a stand-in stream of readings: it starts once the hold is reached
and steady."""

from __future__ import annotations

import sys
import time
from typing import cast

import pytest

from lab.chaos.model.checks import judge, outcome
from lab.chaos.model.history import CaseHistory, TargetState
from lab.chaos.model.scenario import HeldCpu, Scenario, client
from lab.chaos.run import runner as runner_module
from lab.chaos.run.clock import SYSTEM_CLOCK
from lab.chaos.run.runner import CaseRunner
from lab.instance import Lab
from lab.probe import Timeline
from tests.lab_unit.histories import answered, healthy, snap, window


def stream(counts: list[int]) -> list[str]:
    """A stand-in for the probe agent's stream: readings with these ESTABLISHED counts, 0.01 s apart, then the
    last one again until its stdin closes."""
    script = (
        "import json, select, sys, time\n"
        f"counts = {counts!r}\n"
        "for n in range(10**6):\n"
        "    count = counts[min(n, len(counts) - 1)]\n"
        "    print(json.dumps({'t': time.monotonic(), 'pids': [1], 'fds': 8, 'fd_kinds': {}, 'tcp': "
        "{'ESTABLISHED': count}, 'cpu_ticks': n, 'clk_tck': 100, 'rss_bytes': 1, 'start_ticks': 5}), flush=True)\n"
        "    if select.select([sys.stdin], [], [], 0.01)[0] and not sys.stdin.buffer.read1(4096):\n"
        "        break\n")
    return [sys.executable, "-c", script]


class FakeClock:
    """Time that passes only when the runner sleeps: its waits are tested without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def run_window(command: list[str], held: HeldCpu, monkeypatch: pytest.MonkeyPatch,
               hold_wait_s: float = 0.5, streams: bool = True,
               clock: FakeClock | None = None) -> tuple[CaseHistory, list[int]]:
    monkeypatch.setattr(runner_module, "HOLD_WAIT_S", hold_wait_s)
    case_runner = CaseRunner(cast(Lab, None), repro=lambda scenario, seed: "repro", clock=clock or SYSTEM_CLOCK)
    case_runner._started = clock.now if clock is not None else 0.0
    history = CaseHistory(case_id="c", seed=1, target="t", repro="r", baseline=snap(),
                          target_before=TargetState(running=True, started_at="T0"))
    with Timeline(command) as timeline:
        if streams:  # the stand-in is running before the window waits on it
            assert timeline.wait_for(lambda readings: len(readings) >= 1, timeout=20)
        case_runner._timeline = timeline
        case_runner._held_cpu_guarded(held, history)
    return history, [reading.sockets("ESTABLISHED") for reading in timeline.samples]


def test_the_window_starts_once_the_count_stops_rising(monkeypatch: pytest.MonkeyPatch) -> None:
    counts = [100, 900, 1850, 1990, 2000]
    history, taken = run_window(stream(counts), HeldCpu(1800, window_s=0.01), monkeypatch)
    assert history.held_cpu is not None and history.held_error is None
    assert history.held_cpu.start.sockets("ESTABLISHED") == 2000  # 1850 and 1990 were still rising
    assert taken[:5] == [100, 900, 1850, 1990, 2000]


def test_the_declared_delay_before_the_window_is_the_runner_s_clock_not_real_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    began = time.monotonic()
    history, _ = run_window(stream([2000]), HeldCpu(1800, window_s=0.01, after_s=30.0), monkeypatch, clock=clock)
    assert time.monotonic() - began < 15, "the runner slept in real time"
    assert clock.slept == [30.0]
    stamps = {text: t for t, text in history.events}
    assert stamps["CPU window of 0.01 s"] - stamps["2000 connections held"] == 30.0  # stamped by the same clock


def test_a_hold_never_reached_is_no_window_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    history, _ = run_window(stream([10, 20, 30]), HeldCpu(1800, window_s=0.01), monkeypatch)
    assert history.held_cpu is None
    assert history.held_error is not None and "hold 1800 connections" in history.held_error


# cpu_spin judges CPU from the whole stream and says `missing` where the stream has a gap: a hold it never
# measured is not a pass.
def test_a_hold_never_reached_nor_read_is_judged_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    held = HeldCpu(1800, window_s=0.01)
    run = client("flood", connections=1800, concurrency=1800, hold_s=4, idle=True)
    recorded, _ = run_window(stream([10, 20, 30]), held, monkeypatch)
    # the probe gave no reading while the clients held their connections (1 s to 6 s): only that is missing
    readings = [snap(n / 4) for n in range(1, 5)] + [snap(6 + n / 4) for n in range(9)]
    history = healthy(clients=[answered(run)], held_error=recorded.held_error, samples=readings, settled=snap(7.0),
                      idle_cpu=window(0.5, 0.0, t=7.25), started=0.0, observed_until=8.0)
    verdicts = judge(Scenario("c", "test", (run,), held_cpu=held), history)
    (cpu,) = [verdict for verdict in verdicts if verdict.check == "cpu_spin"]
    assert cpu.missing and not cpu.failed
    assert outcome(verdicts) == "error"
