"""The runner's reading after each round of a case played in rounds, on a stand-in stream of readings: taken once
the round's connections are gone and the case's quiet time has passed."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import cast

import pytest

from lab.chaos.model import catalog
from lab.chaos.model.history import CaseHistory, TargetState
from lab.chaos.model.scenario import Limits
from lab.chaos.run import runner as runner_module
from lab.chaos.run.runner import CaseRunner
from lab.instance import Lab
from lab.probe import Timeline
from tests.lab_unit.histories import snap


def stream(fds: list[int]) -> list[str]:
    """Readings 0.01 s apart with these fd counts (then the last one again), RSS rising 1 KiB a reading."""
    script = (
        "import json, select, sys, time\n"
        f"fds = {fds!r}\n"
        "for n in range(10**6):\n"
        "    print(json.dumps({'t': time.monotonic(), 'pids': [1], 'fds': fds[min(n, len(fds) - 1)], "
        "'fd_kinds': {}, 'tcp': {}, 'cpu_ticks': n, 'clk_tck': 100, 'rss_bytes': 1024 * n, 'start_ticks': 5}), "
        "flush=True)\n"
        "    if select.select([sys.stdin], [], [], 0.01)[0] and not sys.stdin.buffer.read1(4096):\n"
        "        break\n")
    return [sys.executable, "-c", script]


SCENARIO = replace(catalog.get("connection_rounds"), round_quiet_s=0.2, limits=Limits(settle_s=0.5))


def after_round(command: list[str], monkeypatch: pytest.MonkeyPatch) -> CaseHistory:
    monkeypatch.setattr(runner_module, "READINGS_LATE_S", 0.5)
    case_runner = CaseRunner(cast(Lab, None), repro=lambda scenario, seed: "repro")
    history = CaseHistory(case_id="c", seed=1, target="t", repro="r", baseline=snap(fds=8),
                          target_before=TargetState(running=True, started_at="T0"))
    with Timeline(command) as timeline:
        case_runner._timeline = timeline
        case_runner._after_round(SCENARIO, history, timeline, 1)
        history.samples = list(timeline.samples)
    return history


def test_the_round_is_read_once_its_connections_are_gone_and_the_quiet_time_passed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    history = after_round(stream([12] * 5 + [8]), monkeypatch)
    (reading,) = history.rounds
    settled = next(sample for sample in history.samples if sample.fds == 8)
    assert reading.fds == 8 and reading.t >= settled.t + SCENARIO.round_quiet_s
    assert not history.probe_errors


def test_a_round_with_no_reading_is_recorded_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    history = after_round(["sh", "-c", "echo probe gone >&2; exit 1"], monkeypatch)
    assert history.rounds == [] and history.probe_errors
