"""The suite's capture keeps failures only: a case whose checks all pass is not collected at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab.chaos.evidence import Evidence
from lab.chaos.runner import CaseRunner
from tests.lab_unit.histories import SCENARIO, healthy, snap


class FakeCapture:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.untraced_spans: list[Any] = []

    def discard(self) -> None:
        self.calls.append("discard")

    def finish(self, folder: Path, windows: Any, settled_at: float | None) -> Evidence:
        self.calls.append("finish")
        return Evidence(folder=str(folder))


def finish(history: Any, *, failures_only: bool) -> tuple[list[str], Evidence | None]:
    runner = CaseRunner(lab=None, repro=lambda s, n: "repro", capture_dir=Path("/tmp/unused"),  # type: ignore[arg-type]
                        capture_failures_only=failures_only)
    capture = FakeCapture()
    runner._finish_capture(capture, SCENARIO, history, 0.0)  # type: ignore[arg-type]
    return capture.calls, history.evidence


def test_a_passing_case_in_the_suite_is_discarded_without_collecting() -> None:
    history = healthy()
    assert finish(history, failures_only=True) == (["discard"], None)
    assert history.events[-1][1] == "capture discarded: every check passed"


def test_a_failing_case_in_the_suite_is_collected() -> None:
    calls, evidence = finish(healthy(settled=snap(3.0, close_wait=3)), failures_only=True)
    assert calls == ["finish"] and evidence is not None


def test_lab_run_with_capture_collects_a_passing_case_too() -> None:
    calls, evidence = finish(healthy(), failures_only=False)
    assert calls == ["finish"] and evidence is not None
