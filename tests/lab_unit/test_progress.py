"""Live progress: the runner's events as they happen, and one line per finished case in the suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.chaos.model.catalog import get
from lab.chaos.model.history import CaseHistory, TargetState
from lab.chaos.model.zoo import BY_BUG
from lab.chaos.run.session import Variant
from lab.chaos.views.pytest_plugin import case_of, progress_line
from lab.probe import Snapshot

pytest_plugins = ["pytester"]
REPO = Path(__file__).resolve().parents[2]


def test_history_events_reach_the_listener_as_they_are_recorded() -> None:
    heard: list[tuple[float, str]] = []
    baseline = Snapshot(t=0, pids=(1,), fds=8, fd_kinds={}, tcp={}, cpu_ticks=0, clk_tck=100, rss_bytes=0,
                        start_ticks=0)
    history = CaseHistory(case_id="c", seed=1, target="t", repro="r", baseline=baseline,
                          target_before=TargetState(True, "T0"), on_event=lambda t, text: heard.append((t, text)))
    history.event(0.5, "clients started")
    assert heard == [(0.5, "clients started")] and history.events == heard
    assert "on_event" not in history.to_json()


def test_case_of_names_chaos_and_zoo_tests() -> None:
    assert case_of({"scenario": get("slowloris"), "variant": Variant("edge")}) == ("slowloris", "edge", False)
    entry = BY_BUG["no_timeouts"]
    assert case_of({"entry": entry}) == ("slowloris,connect_and_idle", "level-no_timeouts", True)
    assert case_of({"case_id": "post_body", "trigger": "edge"}) == ("post_body", "edge", False)
    assert case_of({"x": 1}) is None


def test_progress_line_has_case_variant_outcome_and_seconds() -> None:
    assert progress_line("slowloris", "edge", "pass", 3.25).split() == ["case", "slowloris", "edge", "pass", "3.2",
                                                                       "s"]


def run_with_plugin(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tests: str) -> pytest.RunResult:
    """`tests` as a test file, run in a subprocess with the lab's pytest plugin (reports in a folder of its own)."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("LAB_REPORTS_DIR", str(pytester.path / "reports"))
    pytester.makepyfile(test_cases=tests)
    return pytester.runpytest_subprocess("-p", "lab.chaos.views.pytest_plugin", "-q")


def test_the_suite_prints_one_line_per_finished_case(pytester: pytest.Pytester,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_with_plugin(pytester, monkeypatch, """
        import pytest
        from lab.chaos.model.catalog import get
        from lab.chaos.run.session import Variant

        @pytest.mark.docker
        @pytest.mark.parametrize(("variant", "scenario"), [(Variant("level"), get("slowloris")),
                                                           (Variant("edge"), get("garbage"))])
        def test_case(variant, scenario):
            assert scenario.id == "slowloris"

        @pytest.mark.parametrize("scenario", [get("pipelined")])
        def test_catalog_unit(scenario):  # no lab: no progress line
            assert scenario.id == "pipelined"
    """)
    # The plugin runs cases grouped by variant: edge before level.
    result.stdout.re_match_lines([r"^case garbage\s+edge\s+fail\s+\d+\.\d s$",
                                  r"^case slowloris\s+level\s+pass\s+\d+\.\d s$"])
    assert "case pipelined" not in result.stdout.str()


def test_a_zoo_variant_reads_caught_or_missed_not_pass_or_fail(pytester: pytest.Pytester,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_with_plugin(pytester, monkeypatch, """
        import pytest
        from lab.chaos.model.zoo import BY_BUG

        @pytest.mark.docker
        @pytest.mark.parametrize("entry", [BY_BUG["no_timeouts"], BY_BUG["chunk_list"]])
        def test_variant_is_caught(entry):
            assert entry.bug == "no_timeouts"
    """)
    result.stdout.re_match_lines([r"^case slowloris,connect_and_idle\s+level-no_timeouts\s+caught\s+\d+\.\d s$",
                                  r"^case tiny_chunks\s+level-chunk_list\s+MISSED\s+\d+\.\d s$"])


def test_a_case_whose_data_is_missing_reads_error_not_fail(pytester: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_with_plugin(pytester, monkeypatch, """
        import pytest
        from lab.chaos.model.catalog import get
        from lab.chaos.model.checks import missing
        from lab.chaos.views.pytest_plugin import require_pass
        from lab.chaos.run.session import Variant

        @pytest.mark.docker
        @pytest.mark.parametrize(("variant", "scenario"), [(Variant("level"), get("slowloris"))])
        def test_case(variant, scenario):
            require_pass([missing("fd_leak", "the probe stream ended at t=3.2 s")])
    """)
    result.stdout.re_match_lines([r"^case slowloris\s+level\s+error\s+\d+\.\d s$"])
    result.stdout.fnmatch_lines(["*error, not judged: fd_leak (missing data): the probe stream ended at t=3.2 s*"])
