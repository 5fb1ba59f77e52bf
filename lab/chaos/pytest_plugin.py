"""pytest wiring for the chaos suite and the zoo: options, one lab per worker, results on disk."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab import engine
from lab.chaos import coverage, report, targets
from lab.chaos.adapt import Skip, adapt
from lab.chaos.checks import Verdict, judge, outcome
from lab.chaos.faults import FaultUnavailable
from lab.chaos.scenario import Scenario
from lab.chaos.session import LabSession, Variant, session_seed
from lab.chaos.timing import split_line
from lab.profiles import Profile
from lab.settings import LabConfig, unique_project


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("epoll-lab")
    group.addoption("--target-image", help="run the chaos catalog against this HTTP server image")
    group.addoption("--target-port", type=int, help="the port the target image listens on")
    group.addoption("--lab-profile", help="a target profile (name in board/profiles/ or a .toml path; env LAB_PROFILE):"
                                          " its image, port and deadlines, and the cases adapted to its routes")
    group.addoption("--lab-seed", type=int, help="seed for every case (default: LAB_SEED, else random per run)")
    group.addoption("--lab-capture", action="store_true",
                    help="record a packet capture and a syscall trace of every case; kept for failing cases only")


def pytest_configure(config: pytest.Config) -> None:
    # Options become the environment the lab (and every xdist worker) reads.
    if config.getoption("--lab-profile"):
        os.environ["LAB_PROFILE"] = config.getoption("--lab-profile")
    if os.environ.get("LAB_PROFILE"):
        profile = targets.active_profile(target_image=config.getoption("--target-image"))
        assert profile is not None
        os.environ.update(targets.profile_env(profile))
    if config.getoption("--target-image"):
        os.environ["LAB_TARGET_IMAGE"] = config.getoption("--target-image")
    if config.getoption("--target-port"):
        os.environ["LAB_TARGET_PORT"] = str(config.getoption("--target-port"))
    if config.getoption("--lab-seed") is not None:
        os.environ["LAB_SEED"] = str(config.getoption("--lab-seed"))
    elif not os.environ.get("LAB_SEED"):
        os.environ["LAB_SEED"] = str(session_seed())  # workers inherit it: one seed per run
    if config.getoption("--lab-capture"):
        os.environ["LAB_CAPTURE"] = "1"
    if not hasattr(config, "workerinput") and not os.environ.get("LAB_REPORTS_DIR"):
        os.environ["LAB_REPORTS_DIR"] = str(report.new_run_dir())  # workers inherit it


def pytest_report_header() -> list[str]:
    profile = f" (profile {os.environ['LAB_PROFILE']})" if os.environ.get("LAB_PROFILE") else ""
    adhoc = coverage.adhoc_image()
    return [f"epoll-lab: seed {os.environ.get('LAB_SEED')}, target {os.environ.get('LAB_TARGET_IMAGE') or 'bundled'}"
            f"{profile}, reports in {os.environ.get('LAB_REPORTS_DIR')}",
            *([f"epoll-lab: {coverage.adhoc_note(adhoc, None)}"] if adhoc is not None else [])]


def variant_key(item: pytest.Item) -> tuple[str, ...]:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return ("",)
    variant = callspec.params.get("variant")
    scenario = callspec.params.get("scenario")
    nofile = str(scenario.target_nofile or 0) if isinstance(scenario, Scenario) else "0"
    return (variant.label if isinstance(variant, Variant) else "", nofile)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Cases of one target variant run together, so each worker reconfigures its lab rarely.
    items.sort(key=variant_key)


def bundled_target() -> bool:
    return LabConfig.from_env().bundled_target


@functools.cache
def current_profile() -> Profile | None:
    """The run's target profile: --lab-profile / LAB_PROFILE, an image alone, or None (the bundled server)."""
    return targets.active_profile()


def server_name() -> str:
    """The name results carry for the target: the profile's, else "" (the bundled server by default)."""
    profile = current_profile()
    return profile.name if profile is not None else ""


def variants(scenario: Scenario) -> list[Variant]:
    """The target variants a case runs in: the bundled server's trigger modes (one when a profile names it)."""
    profile = current_profile()
    if profile is not None and profile.trigger is not None:
        return [Variant(profile.trigger)]
    if not bundled_target():
        return [Variant()]
    return [Variant(trigger) for trigger in scenario.triggers]


@pytest.fixture(scope="session")
def lab_session() -> Iterator[LabSession]:
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a terminated worker still takes its lab down
    host = engine.for_worker(os.environ.get("PYTEST_XDIST_WORKER"))  # workers spread over LAB_DOCKER_HOSTS
    profile = current_profile()
    if profile is not None:
        targets.build_image(profile)
    session = LabSession(LabConfig.from_env(project=unique_project("epl-chaos"), docker_host=host),
                         log=lambda _: None, capture=os.environ.get("LAB_CAPTURE") == "1",
                         capture_failures_only=True, profile=profile)
    try:
        yield session
    finally:
        session.close()
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def case_seed() -> int:
    return int(os.environ.get("LAB_SEED") or session_seed())


def play(session: LabSession, scenario: Scenario, variant: Variant, seed: int, *, fresh: bool = False,
         ) -> list[Verdict]:
    """Run one case (adapted to the run's profile), judge it, write its result and timeline; returns the verdicts."""
    profile = current_profile()
    if profile is not None:
        fitted = adapt(scenario, session.referenced(profile))  # the preflight fetches large bodies once
        if isinstance(fitted, Skip):
            record_skip(scenario, variant, fitted.reason)  # raises pytest's Skipped
        assert isinstance(fitted, Scenario)
        scenario = fitted
    started = time.monotonic()
    try:
        history = session.run(scenario, variant, seed, fresh=fresh)
    except FaultUnavailable as unavailable:  # e.g. no sch_netem in this kernel: a skip with the reason
        record_skip(scenario, variant, str(unavailable))  # raises pytest's Skipped
    except Exception as error:  # the lab could not run the case: a scorecard must show it, not skip it
        report.append_result(report.CaseResult(id=scenario.id, variant=variant.label, target="", outcome="error",
                                               messages=(f"{type(error).__name__}: {error}",), seed=seed,
                                               duration_s=time.monotonic() - started, bug=variant.bug,
                                               server=server_name(), engine=engine.describe(engine.current())))
        raise
    judging = time.monotonic()
    verdicts = judge(scenario, history)
    if history.evidence is not None and outcome(verdicts) == "pass":
        shutil.rmtree(history.evidence.folder, ignore_errors=True)  # the suite keeps failures' and errors' only
    try:
        report.save_timeline(history, variant.label, verdicts)
    finally:  # the result is kept even when the picture cannot be drawn
        history.phases["judge and report"] = time.monotonic() - judging
        report.append_result(report.result_of(history, variant.label, verdicts, time.monotonic() - started,
                                              variant.bug, server=server_name()))
    return verdicts


# -- live progress: one line per finished case, printed by the controlling process (xdist forwards reports) ------
CASE_PROPERTY = "lab_case"


def case_of(params: dict[str, Any]) -> tuple[str, str, bool] | None:
    """(case, variant, whether the test passes when a bug is caught) of a chaos or zoo test from its parameters;
    None for any other test."""
    scenario, variant = params.get("scenario"), params.get("variant")
    if isinstance(scenario, Scenario):
        return scenario.id, variant.label if isinstance(variant, Variant) else "", False
    entry = params.get("entry")  # tests/zoo: a bug variant played on its cases
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


def progress_line(case: str, variant: str, outcome: str, seconds: float) -> str:
    return f"case {case:32} {variant:28} {outcome:6} {seconds:6.1f} s"


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
    results = report.read_results() if os.environ.get("LAB_REPORTS_DIR") else []
    line = split_line((result.duration_s, result.phases) for result in results if result.phases)
    if line:
        terminalreporter.write_line(f"epoll-lab: {line}")
    for text in coverage_lines(results):
        terminalreporter.write_line(text)


def coverage_lines(results: list[report.CaseResult]) -> list[str]:
    """The run's coverage per target, "ran N of M cases (K skipped)" and the skip reasons grouped; none without
    case results (a unit-test run)."""
    return [f"epoll-lab: {server}: {found.text()}" for server, found in coverage.by_server(results).items()]


def failure_text(verdicts: list[Verdict]) -> str:
    """The failed checks' messages, then what data the unjudged ones miss."""
    return "\n".join([f"{v.check}: {v.message}" for v in verdicts if v.failed]
                     + [f"{v.check} (missing data): {v.message}" for v in verdicts if v.missing])


def record_skip(scenario: Scenario, variant: Variant, reason: str) -> None:
    report.append_result(report.CaseResult(id=scenario.id, variant=variant.label, target="", outcome="skip",
                                           messages=(reason,), seed=int(os.environ.get("LAB_SEED") or 0) or None,
                                           server=server_name(), engine=engine.describe(engine.current())))
    pytest.skip(reason)
