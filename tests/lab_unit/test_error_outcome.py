"""An error (a verdict's data missing) travels the whole outcome path: result, suite, scorecard, board, CLI."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lab.chaos.model.checks import Verdict, judge, missing
from lab.chaos.run import report
from lab.chaos.views.board import summary, summary_table
from lab.chaos.views.bundle import describe
from lab.chaos.views.pytest_plugin import CaseUnjudged, failure_text, require_pass
from lab.chaos.views.scorecard import cell_text, zoo_json, zoo_table
from tests.lab_unit.histories import SCENARIO, healthy, snap
from tests.lab_unit.test_scorecard import result

GONE = "no reading of the target after the case: the probe stream ended at t=3.2 s: killed"
UNJUDGED = [Verdict("crash", ok=True), missing("fd_leak", GONE)]


def test_a_result_with_missing_data_is_an_error_that_keeps_the_reason() -> None:
    history = healthy(settled=None)
    verdicts = judge(SCENARIO, history)
    saved = report.result_of(history, "level", verdicts, 1.0, None)
    assert saved.outcome == "error" and saved.failed_checks == ()
    assert "fd_leak (missing data): no reading of the target after the case" in saved.messages[0]
    failing = report.result_of(history, "level", judge(SCENARIO, healthy(settled=snap(3.0, fds=12))), 1.0, None)
    assert failing.outcome == "fail" and failing.failed_checks == ("fd_leak",)


def test_the_suite_fails_an_error_with_its_reason_and_calls_it_an_error() -> None:
    with pytest.raises(CaseUnjudged, match="error, not judged: fd_leak \\(missing data\\): no reading"):
        require_pass(UNJUDGED)
    with pytest.raises(AssertionError, match="fd_leak: 12 fds"):
        require_pass([Verdict("fd_leak", ok=False, message="12 fds"), missing("stall", "no result")])
    require_pass([Verdict("crash", ok=True), Verdict("slow_canary", ok=True, applicable=False)])
    assert failure_text(UNJUDGED) == f"fd_leak (missing data): {GONE}"


def test_the_zoo_counts_an_error_neither_as_caught_nor_as_a_false_alarm() -> None:
    results = [result("connect_and_close", "error", bug="no_eof_check"),
               result("pipelined", "error"), result("slowloris")]
    data = zoo_json(results)
    (variant,) = [v for v in data["variants"] if v["bug"] == "no_eof_check"]
    assert not variant["detected"] and variant["errors"] == ["connect_and_close"]
    assert data["clean_false_alarms"] == [] and [e["id"] for e in data["clean_errors"]] == ["pipelined"]
    assert "clean server: 2 cases, 0 false alarms, 1 errors (not judged): [('pipelined', 'level')]" in zoo_table(
        results)


def test_the_scorecard_names_the_checks_whose_data_is_missing() -> None:
    history = healthy(settled=None)
    saved = report.result_of(history, "level", judge(SCENARIO, history), 1.0, None)
    assert cell_text(saved).startswith("error fd_leak,close_wait,stale_connection")


def test_the_board_counts_errors_apart() -> None:
    results = [replace(result("pipelined", "error"), server="nginx"), replace(result("slowloris"), server="nginx")]
    assert summary(results)["nginx"] == {"pass": 1, "fail": 0, "skip": 0, "error": 1}
    assert summary_table(results).splitlines()[1].split()[:5] == ["nginx", "1", "0", "0", "1"]


def test_a_bundle_prints_missing_data_and_the_outcome() -> None:
    manifest = {"case": "c", "seed": 1, "variant": "level", "target": "t", "created": "now",
                "verdicts": [verdict.__dict__ for verdict in UNJUDGED]}
    text = describe(manifest)
    assert f"  MISS fd_leak           {GONE}" in text
    assert "outcome: error (a verdict's data is missing)" in text
