"""pytest wiring for the chaos suite and the zoo: options, one lab per worker, results on disk."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest.mark import ParameterSet

from lab import engine
from lab.chaos.model.catalog import CATALOG
from lab.chaos.model.checks import Verdict, outcome
from lab.chaos.model.scenario import Scenario
from lab.chaos.model.zoo import ZOO
from lab.chaos.run import report
from lab.chaos.run.play import base_lab, failure_text, open_session, prepare_engines, run_job, target_profile
from lab.chaos.run.scheduler import Job, plan
from lab.chaos.run.session import LabSession, Variant
from lab.chaos.views import coverage
from lab.chaos.views.progress import coverage_lines, progress_line, summary_lines
from lab.errors import LabError
from lab.run_config import RunConfig

__all__ = ["coverage_lines", "failure_text", "progress_line"]  # the plugin's names tests import


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("epoll-lab")
    group.addoption("--target-image", help="run the chaos catalog against this HTTP server image")
    group.addoption("--target-port", type=int, help="the port the target image listens on")
    group.addoption("--lab-profile", help="a target profile (name in board/profiles/ or a .toml path; env LAB_PROFILE):"
                                          " its image, port and deadlines, and the cases adapted to its routes")
    group.addoption("--lab-seed", type=int, help="seed for every case (default: LAB_SEED, else random per run)")
    group.addoption("--lab-capture", action="store_true",
                    help="record a packet capture and a syscall trace of every case; kept for failing cases only")


RUN_KEY = pytest.StashKey["RunConfig"]()
_run: RunConfig | None = None  # this process's run, built once in pytest_configure


def pytest_configure(config: pytest.Config) -> None:
    """The run's configuration from the options over the environment (the edge: nothing below reads LAB_*).
    The controller picks the seed and the reports folder; xdist workers get both in their workerinput."""
    global _run
    handed: dict[str, Any] = getattr(config, "workerinput", {})
    options = {"profile": config.getoption("--lab-profile"), "target_image": config.getoption("--target-image"),
               "target_port": config.getoption("--target-port"), "capture": config.getoption("--lab-capture"),
               "seed": handed.get("lab_seed", config.getoption("--lab-seed")),
               "reports_dir": (Path(handed["lab_reports_dir"]) if "lab_reports_dir" in handed
                               else None if os.environ.get("LAB_REPORTS_DIR")
                               else report.new_run_dir())}  # a folder of this run's own
    run = RunConfig.from_env(os.environ, **options)
    engine.set_hosts(run.docker_hosts)
    config.stash[RUN_KEY] = _run = run


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: each worker plays with the controller's seed and writes into the controller's folder."""
    run = node.config.stash[RUN_KEY]
    node.workerinput["lab_seed"] = run.seed
    node.workerinput["lab_reports_dir"] = str(run.reports_dir)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config, specs: list[Any]) -> None:
    """xdist over several engines: each worker's engine made current before any worker plays a case."""
    try:
        prepare_engines(config.stash[RUN_KEY], len(specs))
    except LabError as error:
        raise pytest.UsageError(f"epoll-lab: {error}") from None


def run_config() -> RunConfig:
    """The run's configuration (pytest_configure built it)."""
    assert _run is not None, "the lab's pytest plugin is not configured"
    return _run


def pytest_report_header(config: pytest.Config) -> list[str]:
    run = config.stash[RUN_KEY]
    profile = f" (profile {run.profile})" if run.profile else ""
    adhoc = coverage.adhoc_image(run.target_image, run.profile)
    return [f"epoll-lab: seed {run.seed}, target {base_lab(run).target_image or 'bundled'}"
            f"{profile}, reports in {run.reports_dir}",
            *([f"epoll-lab: {coverage.adhoc_note(adhoc, run.target_port)}"] if adhoc is not None else [])]


def variant_key(item: pytest.Item) -> tuple[str, ...]:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return ("",)
    job = callspec.params.get("job")
    if isinstance(job, Job):
        return job.group
    variant, scenario = callspec.params.get("variant"), callspec.params.get("scenario")  # a test's own cases
    nofile = str(scenario.target_nofile or 0) if isinstance(scenario, Scenario) else "0"
    return (variant.label if isinstance(variant, Variant) else "", nofile)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Cases of one target variant run together, so each worker reconfigures its lab rarely.
    items.sort(key=variant_key)


def bundled_target() -> bool:
    return base_lab(run_config()).bundled_target


def planned(*, zoo: bool = False) -> list[ParameterSet]:
    """The run's jobs as test parameters, with the ids CI shows: `level-slowloris`, or a zoo variant's bug."""
    run = run_config()
    jobs = plan([] if zoo else CATALOG, run.seed, profile=target_profile(run), bundled=bundled_target(),
                zoo=ZOO if zoo else ())
    return [pytest.param(job, id=job.name, marks=([pytest.mark.heavy] if job.heavy else [])
                         + ([pytest.mark.zoo] if job.zoo else [])) for job in jobs]


@pytest.fixture(scope="session")
def lab_session() -> Iterator[LabSession]:
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a terminated worker still takes its lab down
    session = open_session(run_config(), os.environ.get("PYTEST_XDIST_WORKER"))
    try:
        yield session
    finally:
        session.close()
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class CaseCrashed(Exception):
    """The lab could not play the case (its error is in the results)."""


def play_job(session: LabSession, job: Job, run: RunConfig | None = None,
             skip_allowed: Callable[[str], bool] = lambda reason: True) -> None:
    """Play a job as the scheduler's workers do, write its results (into `run`'s folder: the run's own by
    default), and pass, fail, skip or error as it did; a skip whose reason `skip_allowed` refuses fails."""
    run = run or run_config()
    result = run_job(session, job, run)
    for record in result.records:
        report.append_result(record, run.reports_dir, worker=os.environ.get("PYTEST_XDIST_WORKER", "main"))
    if result.outcome == "skip":
        if not skip_allowed(result.message):
            pytest.fail(f"a needless skip: {result.message}", pytrace=False)
        pytest.skip(result.message)
    if result.crashed:
        raise CaseCrashed(result.message)
    if result.unjudged:
        raise CaseUnjudged(result.message)
    if result.outcome not in ("pass", "caught"):
        pytest.fail(result.message, pytrace=False)


# -- live progress: one line per finished case, printed by the controlling process (xdist forwards reports) ------
CASE_PROPERTY = "lab_case"


def case_of(params: dict[str, Any]) -> tuple[str, str, bool] | None:
    """(case, variant, whether the test passes when a bug is caught) of a chaos or zoo test from its parameters;
    None for any other test."""
    job = params.get("job")
    if isinstance(job, Job):
        return ",".join(job.cases), job.variant.label, bool(job.catches)
    scenario, variant = params.get("scenario"), params.get("variant")
    if isinstance(scenario, Scenario):
        return scenario.id, variant.label if isinstance(variant, Variant) else "", False
    entry = params.get("entry")  # a zoo entry as a test's own parameter: a bug variant played on its cases
    if entry is not None and hasattr(entry, "cases"):
        return ",".join(entry.cases), f"{entry.trigger}-{entry.bug}", True
    if "case_id" in params:
        return str(params["case_id"]), str(params.get("trigger", "")), False
    return None


UNJUDGED_PROPERTY = "lab_unjudged"


class CaseUnjudged(AssertionError):
    """A case a verdict could not judge, its data missing (checks.missing): an error, neither pass nor fail."""


def require_pass(verdicts: list[Verdict]) -> None:
    """Fail the test of a case that failed (the failed checks) or could not be judged (what data is missing)."""
    result = outcome(verdicts)
    if result == "error":
        raise CaseUnjudged(f"error, not judged: {failure_text(verdicts)}")
    assert result == "pass", failure_text(verdicts)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    made: Any = yield
    callspec = getattr(item, "callspec", None)
    # Cases that ran against a lab only: the catalog's unit tests take a scenario too.
    live = item.get_closest_marker("docker") is not None
    case = case_of(dict(callspec.params)) if callspec is not None and live else None
    if case is not None:
        made.get_result().user_properties.append((CASE_PROPERTY, case))
        if call.excinfo is not None and call.excinfo.errisinstance(CaseUnjudged):
            made.get_result().user_properties.append((UNJUDGED_PROPERTY, True))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    case: Any = dict(report.user_properties).get(CASE_PROPERTY)
    finished = report.when == "call" or (report.when == "setup" and not report.passed)
    if case is None or not finished or _terminal is None:
        return
    word = "error" if dict(report.user_properties).get(UNJUDGED_PROPERTY) else outcome_word(
        report, zoo=bool(case[2:] and case[2]))
    _terminal_line(progress_line(case[0], case[1], word, report.duration))


def outcome_word(report: pytest.TestReport, *, zoo: bool) -> str:
    """What a finished case says: pass/fail/skip/error, or for a zoo variant caught/MISSED (its test passes when
    the lab catches the bug, which is not the variant passing)."""
    if report.skipped:
        return "skip"
    if report.when != "call":
        return "error"
    if zoo:
        return "caught" if report.passed else "MISSED"
    return "pass" if report.passed else "fail"


def _terminal_line(text: str) -> None:
    assert _terminal is not None
    if _terminal._tw.width_of_current_line:  # after pytest's progress dots
        _terminal.write("\n")
    _terminal.write_line(text)


_terminal: Any = None


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _terminal
    _terminal = session.config.pluginmanager.get_plugin("terminalreporter")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Where the cases' time went, summed over the run (the controlling process only: workers' results are in
    the run's folder by then)."""
    if hasattr(config, "workerinput"):
        return
    folder = config.stash[RUN_KEY].reports_dir
    # A test judging another target keeps its results in a folder of the run's own, one per target
    nested = [result for sub in sorted(folder.iterdir()) if sub.is_dir() for result in report.read_results(sub)] \
        if folder.is_dir() else []
    for text in summary_lines(report.read_results(folder) + nested):
        terminalreporter.write_line(text)
