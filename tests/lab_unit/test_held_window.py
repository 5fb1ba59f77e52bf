"""The runner's held-phase CPU window, against a fake probe: it starts once the hold is reached and steady."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest

from lab.chaos import runner as runner_module
from lab.chaos.history import CaseHistory, TargetState
from lab.chaos.runner import CaseRunner
from lab.chaos.scenario import HeldCpu
from lab.instance import Lab
from tests.lab_unit.histories import snap


class FakeProbe:
    """Hands out snapshots with these ESTABLISHED counts, then repeats the last one."""

    def __init__(self, counts: list[int]) -> None:
        self._counts: Iterator[int] = iter(counts)
        self._last = counts[-1]
        self.taken: list[int] = []

    def snapshot(self) -> Any:
        count = next(self._counts, self._last)
        self.taken.append(count)
        return snap(float(len(self.taken)), established=count, cpu=len(self.taken))


class FakeLab:
    def __init__(self, probe: FakeProbe) -> None:
        self._probe = probe

    def probe(self) -> FakeProbe:
        return self._probe


def run_window(counts: list[int], held: HeldCpu, monkeypatch: pytest.MonkeyPatch) -> tuple[CaseHistory, FakeProbe]:
    monkeypatch.setattr(runner_module, "HOLD_WAIT_S", 0.5)
    probe = FakeProbe(counts)
    case_runner = CaseRunner(cast(Lab, FakeLab(probe)), repro=lambda scenario, seed: "repro")
    history = CaseHistory(case_id="c", seed=1, target="t", repro="r", baseline=snap(),
                          target_before=TargetState(running=True, started_at="T0"))
    case_runner._held_cpu_guarded(held, history, start=0.0)
    return history, probe


def test_the_window_starts_once_the_count_stops_rising(monkeypatch: pytest.MonkeyPatch) -> None:
    history, probe = run_window([100, 900, 1850, 1990, 2000], HeldCpu(1800, window_s=0.01), monkeypatch)
    assert history.held_cpu is not None and history.held_error is None
    assert history.held_cpu.start.sockets("ESTABLISHED") == 2000  # 1850 and 1990 were still rising
    assert probe.taken[:5] == [100, 900, 1850, 1990, 2000]


def test_a_hold_never_reached_is_an_error_not_a_window(monkeypatch: pytest.MonkeyPatch) -> None:
    history, _ = run_window([10, 20, 30], HeldCpu(1800, window_s=0.01), monkeypatch)
    assert history.held_cpu is None
    assert history.held_error is not None and "hold 1800 connections" in history.held_error


def test_a_failing_probe_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenProbe(FakeProbe):
        def snapshot(self) -> Any:
            raise OSError("probe gone")

    monkeypatch.setattr(runner_module, "HOLD_WAIT_S", 0.2)
    case_runner = CaseRunner(cast(Lab, FakeLab(BrokenProbe([0]))), repro=lambda scenario, seed: "repro")
    history = CaseHistory(case_id="c", seed=1, target="t", repro="r", baseline=snap(),
                          target_before=TargetState(running=True, started_at="T0"))
    case_runner._held_cpu_guarded(HeldCpu(1, window_s=0.01), history, start=0.0)
    assert history.held_cpu is None and "probe gone" in str(history.held_error)
