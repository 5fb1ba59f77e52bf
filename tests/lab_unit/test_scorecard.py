"""The scorecard's tables are pure functions of the case results."""

from __future__ import annotations

from lab.chaos.checks import CHECK_NAMES
from lab.chaos.report import CaseResult
from lab.chaos.scorecard import cell_text, checks_caught, scorecard_json, scorecard_table, zoo_json, zoo_table


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
