"""`lab scorecard` writes an HTML report beside its results (what the GitHub Action uploads, action.yml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import cli
from lab.chaos.run.report import CaseResult, append_result


def test_the_scorecard_writes_its_html_report_beside_the_results(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    for case, outcome in (("pipelined", "pass"), ("slowloris", "fail")):
        append_result(CaseResult(id=case, variant="any", target="my/server:1", outcome=outcome, server="mine",
                                 failed_checks=("no_timeout",) if outcome == "fail" else ()), tmp_path)
    assert cli.main(["scorecard", "--results", str(tmp_path), "--min-coverage", "0"]) == 0
    index = tmp_path / "index.html"
    assert index.is_file()
    page = index.read_text()
    assert "pipelined" in page and "slowloris" in page and "mine" in page
    assert f"report: {index}" in capsys.readouterr().out
