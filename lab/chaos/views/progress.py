"""What a run prints while and after it plays: one line per finished case, and where the time and the coverage
went. Shared by the scheduler's commands and the pytest plugin, so both read alike."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lab.chaos.model.timing import split_line
from lab.chaos.run import report
from lab.chaos.run.play import server_name
from lab.chaos.run.report import CaseResult
from lab.chaos.run.scheduler import Job, Result, execute
from lab.chaos.views import coverage
from lab.run_config import RunConfig


def progress_line(case: str, variant: str, outcome: str, seconds: float) -> str:
    return f"case {case:32} {variant:28} {outcome:6} {seconds:6.1f} s"


def coverage_lines(results: list[CaseResult]) -> list[str]:
    """The run's coverage per target, "ran N of M cases (K skipped)" and the skip reasons grouped; none without
    case results (a unit-test run)."""
    return [f"epoll-lab: {server}: {found.text()}" for server, found in coverage.by_server(results).items()]


def summary_lines(results: list[CaseResult]) -> list[str]:
    """Where the cases' time went, summed over the run, then its coverage per target."""
    line = split_line((result.duration_s, result.phases) for result in results if result.phases)
    return ([f"epoll-lab: {line}"] if line else []) + coverage_lines(results)


def recorder(directory: Path, say: Callable[[str], None]) -> Callable[[Result], None]:
    """The scheduler's callback: each finished job's case results into the run's folder (one JSONL file per
    worker, as the pytest plugin writes them), and its progress line."""

    def record(result: Result) -> None:
        for case in result.records:
            report.append_result(case, directory, worker=f"gw{result.worker}")
        say(progress_line(",".join(result.job.cases), result.job.variant.label, result.outcome, result.seconds))

    return record


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def play_and_print(jobs: Sequence[Job], run: RunConfig, workers: int) -> list[Result]:
    """Play the jobs with the scheduler: a line per finished job, results into run.reports_dir, then the
    run's summary (as the pytest plugin ends a run)."""
    results = execute(jobs, run, workers, recorder(run.reports_dir, _stderr), server=server_name(run))
    for line in summary_lines(report.read_results(run.reports_dir)):
        _stderr(line)
    return results
