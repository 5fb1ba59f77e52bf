"""Coverage, "ran N of M cases (K skipped)", is counted and printed by pure functions; the scorecard's exit
code follows it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lab import settings
from lab.chaos.model import catalog
from lab.chaos.model.adapt import adapt
from lab.chaos.run import targets
from lab.chaos.run.report import CaseResult
from lab.chaos.views import board, coverage
from lab.chaos.views.pytest_plugin import RUN_KEY, coverage_lines, pytest_report_header
from lab.chaos.views.scorecard import scorecard_json, scorecard_table
from lab.cli import main
from lab.profiles import find_profile
from lab.run_config import RunConfig


def result(case: str, outcome: str = "pass", reason: str = "", *, variant: str = "any",
           server: str = "minimal") -> CaseResult:
    return CaseResult(id=case, variant=variant, target="img", outcome=outcome, server=server,
                      messages=(reason,) if reason else ())


RESULTS = [
    result("a"), result("b", "fail"), result("c", "error"),
    result("d", "skip", "needs an echo POST"), result("e", "skip", "needs an echo POST"),
    result("f", "skip", "needs a header deadline"),
]


def test_cases_that_did_not_skip_ran_and_skips_are_grouped_by_reason() -> None:
    found = coverage.of_results(RESULTS)
    assert found.line() == "ran 3 of 6 cases (3 skipped)"
    assert found.skipped == {"needs an echo POST": ("d", "e"), "needs a header deadline": ("f",)}
    assert found.text().splitlines()[1:] == ["    2 skipped: needs an echo POST: d, e",
                                             "    1 skipped: needs a header deadline: f"]
    assert found.cell() == "3/6 (50%)"


def test_a_case_counts_once_over_its_variants() -> None:
    """The bundled server's two modes: a case run in one and skipped in the other ran; skipped in both, once."""
    found = coverage.of_results([result("a", variant="level"), result("a", "skip", "netem", variant="edge"),
                                 result("b", "skip", "netem", variant="level"),
                                 result("b", "skip", "netem", variant="edge")])
    assert found.line() == "ran 1 of 2 cases (1 skipped)" and found.skipped == {"netem": ("b",)}


def test_under_the_minimum_is_one_line_and_an_empty_run_is_under_any() -> None:
    found = coverage.of_results(RESULTS)
    assert found.below(50) is None
    complaint = found.below(80)
    assert complaint is not None and "\n" not in complaint
    assert complaint.startswith("coverage 50% is under the minimum 80%: ran 3 of 6 cases (3 skipped)")
    assert coverage.of_results([]).below(0) is not None


def test_the_minimal_profile_covers_too_little_and_a_full_one_enough() -> None:
    minimal = coverage.of_adapted(adapt(s, targets.adhoc_profile("img", 80)) for s in catalog.CATALOG)
    full = coverage.of_adapted(adapt(s, find_profile("server-level")) for s in catalog.CATALOG)
    assert minimal.total == full.total == len(catalog.CATALOG)
    assert minimal.below(coverage.DEFAULT_MIN_COVERAGE) is not None
    assert full.below(coverage.DEFAULT_MIN_COVERAGE) is None


def test_the_scorecard_prints_and_carries_its_coverage() -> None:
    assert "ran 3 of 6 cases (3 skipped)\n    2 skipped: needs an echo POST: d, e" in scorecard_table(RESULTS)
    data = scorecard_json(RESULTS)["coverage"]
    assert (data["ran"], data["cases"], data["skipped"], data["percent"]) == (3, 6, 3, 50.0)
    assert data["skip_reasons"][0] == {"reason": "needs an echo POST", "count": 2, "cases": ["d", "e"]}


def test_the_board_has_a_coverage_column_in_text_and_html(tmp_path: Path) -> None:
    results = [*RESULTS, result("a", server="full"), result("b", server="full")]
    text = board.summary_table(results)
    assert text.splitlines()[0].split()[-2:] == ["coverage", "version"]
    assert any(line.startswith("minimal") and line.rstrip().endswith("3/6 (50%)") for line in text.splitlines())
    assert "full: ran 2 of 2 cases (0 skipped)" in text
    page = board.render_html(results, tmp_path)
    assert "<th>coverage</th>" in page and "ran 3 of 6 cases (3 skipped)" in page
    assert "needs an echo POST" in page and "ran 2/2 (100%)" in page


def test_the_pytest_summary_prints_coverage_only_for_case_results() -> None:
    assert coverage_lines([]) == []
    assert coverage_lines(RESULTS)[0].splitlines() == ["epoll-lab: minimal: ran 3 of 6 cases (3 skipped)",
                                                       "    2 skipped: needs an echo POST: d, e",
                                                       "    1 skipped: needs a header deadline: f"]


def write_results(folder: Path, results: list[CaseResult]) -> Path:
    folder.mkdir()
    (folder / "results-main.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in results))
    return folder


def test_the_scorecard_exits_non_zero_under_the_minimum_coverage(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_results(tmp_path / "minimal", RESULTS)
    assert main(["scorecard", "--results", str(folder)]) == 1
    out, err = capsys.readouterr()
    assert "ran 3 of 6 cases (3 skipped)" in out
    assert err.count("\n") == 1 and "coverage 50% is under the minimum 80%" in err
    assert main(["scorecard", "--results", str(folder), "--min-coverage", "50"]) == 0
    assert main(["scorecard", "--results", str(folder), "--min-coverage", "120"]) == 1
    assert "a percentage" in capsys.readouterr().err


def test_a_minimal_profiles_scorecard_prints_its_coverage_and_fails(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The results an image-only run writes (its skips with adapt's reasons) are under the default minimum."""
    profile = targets.adhoc_profile("img", 80)
    results = []
    for scenario in catalog.CATALOG:
        fitted = adapt(scenario, profile)
        reason = getattr(fitted, "reason", "")
        results.append(result(scenario.id, "skip" if reason else "pass", reason, server=profile.name))
    assert main(["scorecard", "--results", str(write_results(tmp_path / "adhoc", results))]) == 1
    out, err = capsys.readouterr()
    assert f"of {len(catalog.CATALOG)} cases" in out and "is under the minimum 80%" in err


def test_an_image_without_a_profile_says_how_to_write_one(capsys: pytest.CaptureFixture[str]) -> None:
    skipped_there = next(s.id for s in catalog.CATALOG if not hasattr(adapt(s, targets.adhoc_profile("i", 80)), "id"))
    assert main(["run", skipped_there, "--seed", "1", "--target-image", "someone/server:1", "--target-port", "80"]) == 0
    err = capsys.readouterr().err
    (note,) = [line for line in err.splitlines() if "without a profile" in line]
    assert "cases can run" in note and "python -m lab profile init --image someone/server:1 --port 80" in note


def header_of(env: dict[str, str]) -> list[str]:
    """The plugin's report header for a run the environment `env` configured."""
    config: Any = SimpleNamespace(stash={RUN_KEY: RunConfig.from_env(env)})
    return pytest_report_header(config)


def test_an_image_named_by_the_environment_is_ad_hoc_too_unless_a_profile_is() -> None:
    run = RunConfig.from_env({"LAB_TARGET_IMAGE": "someone/server:2", "LAB_TARGET_PORT": "81"})
    assert coverage.adhoc_image(run.target_image, run.profile) == "someone/server:2"
    assert coverage.adhoc_image(run.target_image, profile="nginx") is None
    (_, note) = header_of({"LAB_TARGET_IMAGE": "someone/server:2", "LAB_TARGET_PORT": "81"})
    assert "--image someone/server:2 --port 81" in note
    assert len(header_of({"LAB_TARGET_IMAGE": "someone/server:2", "LAB_PROFILE": "nginx"})) == 1
    assert len(header_of({"LAB_TARGET_IMAGE": settings.SERVER_IMAGE})) == 1  # the bundled server needs no profile
