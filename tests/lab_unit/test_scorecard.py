"""The scorecard's tables are pure functions of the case results."""

from __future__ import annotations

from lab.chaos.model.checks import CHECK_NAMES
from lab.chaos.run.report import CaseResult, result_of
from lab.chaos.views.scorecard import cell_text, checks_caught, scorecard_json, scorecard_table, zoo_json, zoo_table
from tests.lab_unit.histories import healthy, snap


def result(case: str, outcome: str = "pass", *checks: str, bug: str | None = None, got: int | None = 40,
           owed: int | None = 40) -> CaseResult:
    variant = "level" + (f"-{bug}" if bug else "")
    return CaseResult(id=case, variant=variant, target="bundled", outcome=outcome, failed_checks=checks, bug=bug,
                      responses_got=got, responses_owed=owed, plan="20×2 pipelined")


RESULTS = [
    result("connect_and_close", "fail", "cpu_spin", "close_wait", bug="no_eof_check"),
    result("connect_and_close", "fail", "fd_leak", "close_wait", bug="leak_on_disconnect"),
    result("slow_reader", "fail", "stall", bug="ignore_send_count", got=0, owed=1),
    result("pipelined", "fail", "stall", got=21),
    result("connect_and_close"),
]


def test_checks_caught_lists_the_variants_each_check_flagged() -> None:
    caught = checks_caught(RESULTS)
    assert list(caught) == list(CHECK_NAMES)
    assert caught["close_wait"] == ["leak_on_disconnect", "no_eof_check"]
    assert caught["stall"] == ["ignore_send_count"]  # the clean server's failure is no variant caught
    assert caught["cpu_spin"] == ["no_eof_check"] and caught["crash"] == []


def test_the_zoo_json_has_a_checks_section() -> None:
    data = zoo_json(RESULTS)
    assert data["checks"] == checks_caught(RESULTS)
    assert data["clean_false_alarms"] == [{"id": "pipelined", "variant": "level", "failed_checks": ["stall"]}]
    assert "crash             NONE" in zoo_table(RESULTS)


def test_the_scorecard_shows_the_response_counts() -> None:
    assert cell_text(result("pipelined")) == "pass 40/40"
    assert cell_text(result("pipelined", "fail", "stall", got=21)) == "FAIL stall 21/40"
    assert cell_text(result("pipelined", "skip", got=None, owed=None)) == "skip"
    (pipelined,) = [case for case in scorecard_json(RESULTS)["cases"] if case["id"] == "pipelined"]
    assert pipelined["responses"] == {"got": 21, "owed": 40} and pipelined["plan"] == "20×2 pipelined"
    assert "FAIL stall 21/40" in scorecard_table(RESULTS)


def test_results_round_trip_with_their_counts() -> None:
    original = result("pipelined", "fail", "stall", got=21)
    assert CaseResult.from_json(original.to_json()) == original
    older = {k: v for k, v in original.to_json().items() if k not in ("responses_got", "responses_owed", "plan")}
    assert CaseResult.from_json(older).counts == ""  # results written before the counts still read


def served(case: str, rss_mib: float, *, started: int | None = 100, variant: str = "level") -> CaseResult:
    return CaseResult(id=case, variant=variant, target="bundled", outcome="pass", baseline_rss_bytes=None
                      if started is None else int(rss_mib * (1 << 20)), target_started=started)


def test_the_scorecard_reports_the_target_s_growth_across_cases() -> None:
    results = [served("well_behaved", 14.0), served("header_flood", 14.5), served("slowloris", 20.5),
               served("pipelined", 21.0),
               served("well_behaved", 15.0, started=200),  # a restarted target: a process of its own
               served("slowloris", 15.5, started=200),
               served("pipelined", 30.0, started=300),  # one case on a fresh process: nothing to compare
               served("fd_exhaustion", 0, started=None, variant="edge")]  # older results: no baseline RSS
    table = scorecard_table(results)
    assert "target RSS across cases (each case's baseline, first → last):" in table
    assert "level #1: 14.0 → 21.0 MiB over 4 cases (+7.0 MiB; the largest step +6.0 MiB, after header_flood)" \
        in table
    assert "level #2: 15.0 → 15.5 MiB over 2 cases (+0.5 MiB; the largest step +0.5 MiB, after well_behaved)" \
        in table
    assert "level #3" not in table and "edge" not in table.split("target RSS")[1]
    (first, second) = scorecard_json(results)["memory_across_cases"]
    assert first == {"target": "level #1", "cases": 4, "first_rss_bytes": 14 << 20, "last_rss_bytes": 21 << 20,
                     "growth_bytes": 7 << 20, "largest_step": {"after": "header_flood", "bytes": 6 << 20}}
    assert second["target"] == "level #2"


def test_results_carry_the_baseline_rss_and_older_ones_still_read() -> None:
    original = served("slowloris", 14.0)
    assert CaseResult.from_json(original.to_json()) == original
    older = {k: v for k, v in original.to_json().items() if k not in ("baseline_rss_bytes", "target_started")}
    assert CaseResult.from_json(older).baseline_rss_bytes is None
    assert "target RSS across cases" not in scorecard_table(RESULTS)


def test_a_case_result_keeps_its_baseline_rss_and_target_process() -> None:
    made = result_of(healthy(baseline=snap(rss_mib=14.5)), "level", [], 1.0, None)
    assert (made.baseline_rss_bytes, made.target_started) == (int(14.5 * (1 << 20)), 5)
