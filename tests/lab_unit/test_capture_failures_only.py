"""The suite's capture keeps failures only: a case whose checks all pass is not collected at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab.chaos.model.evidence import Evidence
from lab.chaos.run.runner import CaseRunner
from tests.lab_unit.histories import SCENARIO, healthy, snap


class FakeCapture:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.untraced_spans: list[Any] = []

    def discard(self) -> None:
        self.calls.append("discard")

    def finish(self, folder: Path, windows: Any, settled_at: float | None) -> Evidence:
        self.calls.append("finish")
        self.settled_at = settled_at
        return Evidence(folder=str(folder), accepts=3, closes=3)


def finish(history: Any, *, failures_only: bool) -> tuple[list[str], Evidence | None]:
    runner = CaseRunner(lab=None, repro=lambda s, n: "repro", capture_dir=Path("/tmp/unused"),  # type: ignore[arg-type]
                        capture_failures_only=failures_only)
    capture = FakeCapture()
    runner._finish_capture(capture, SCENARIO, history)  # type: ignore[arg-type]
    if capture.calls == ["finish"]:  # told when the settled reading was taken, for the FINs and closes after it
        assert capture.settled_at == (history.settled.t if history.settled else None)
    return capture.calls, history.evidence


def collected(evidence: Evidence | None, history: Any) -> bool:
    """The capture's own evidence kept in the history, with the CPU windows no trace followed (the fake traced
    nothing), and the event saying where it went."""
    untraced = ("the CPU window after the case: no stretch right after it was traced",) if history.idle_cpu else ()
    return (evidence is not None and evidence.folder == "/tmp/unused" and (evidence.accepts, evidence.closes) == (3, 3)
            and evidence.untraced_windows == untraced and history.evidence is evidence
            and history.events[-1][1] == "capture and trace saved in /tmp/unused")


def test_a_passing_case_in_the_suite_is_discarded_without_collecting() -> None:
    history = healthy()
    assert finish(history, failures_only=True) == (["discard"], None)
    assert history.events[-1][1] == "capture discarded: every check passed"


def test_a_failing_case_in_the_suite_is_collected() -> None:
    history = healthy(settled=snap(3.0, close_wait=3))
    calls, evidence = finish(history, failures_only=True)
    assert calls == ["finish"] and collected(evidence, history)


def test_a_case_that_could_not_be_judged_is_collected_too() -> None:
    history = healthy(settled=None)  # no reading after the case: an error, whose capture may show why
    calls, evidence = finish(history, failures_only=True)
    assert calls == ["finish"] and collected(evidence, history)


def test_lab_run_with_capture_collects_a_passing_case_too() -> None:
    history = healthy()
    calls, evidence = finish(history, failures_only=False)
    assert calls == ["finish"] and collected(evidence, history)
