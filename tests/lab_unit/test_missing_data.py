"""Missing data is an error, never a pass: a dead probe stream, a late CPU window, a client without a result."""

from __future__ import annotations

from dataclasses import replace

from lab.chaos.model.checks import Verdict, judge, outcome
from lab.chaos.model.history import CaseHistory, TargetState
from lab.chaos.model.scenario import Expect, KillClients, Scenario, StopTarget, client
from tests.lab_unit.histories import SCENARIO, answered, healthy, snap, window
from tests.lab_unit.histories import outcome as client_outcome

STREAM_DIED = "probe stream ended (exit 137): killed"


def readings(start: float, end: float) -> list:  # type: ignore[type-arg]
    """The probe's readings every 0.25 s from `start` to `end` (seconds on the case's clock)."""
    return [snap(start + n / 4) for n in range(int((end - start) * 4) + 1)]


def by_check(scenario: Scenario, history: CaseHistory) -> dict[str, Verdict]:
    return {verdict.check: verdict for verdict in judge(scenario, history)}


def test_a_dead_stream_is_an_error_with_the_reason_not_a_pass() -> None:
    # the history: no settled reading, no idle window, and the stream dead since t=3.2 s
    history = healthy(samples=[snap(1.0), snap(3.2)], settled=None, idle_cpu=None, started=0.0,
                      probe_errors=[STREAM_DIED], observed_until=12.0)
    verdicts = by_check(SCENARIO, history)
    assert outcome(list(verdicts.values())) == "error"
    for check in ("fd_leak", "close_wait", "stale_connection"):
        assert verdicts[check].missing and not verdicts[check].failed
        assert verdicts[check].message == ("no reading of the target after the case: the probe stream ended at "
                                           f"t=3.2 s: {STREAM_DIED}")
    assert verdicts["probe_stream"].missing
    assert verdicts["probe_stream"].message == (f"the probe stream ended at t=3.2 s: {STREAM_DIED}; no reading of "
                                                "the target from then to t=12.0 s, the case's last measurement")


def test_no_reading_after_the_case_and_no_stream_at_all_is_an_error() -> None:
    history = healthy(samples=[], settled=None, idle_cpu=None)
    assert outcome(judge(SCENARIO, history)) == "error"
    assert "with no probe error recorded" in by_check(SCENARIO, history)["fd_leak"].message


def test_a_cpu_window_whose_closing_reading_came_late_is_an_error() -> None:
    # the readings stop at 5.0 s and resume at 9.5 s: the idle window (5.0 s to 5.5 s) was never closed
    history = healthy(samples=[*readings(0.25, 5.0), snap(9.5)], settled=snap(5.0), idle_cpu=None, started=0.0,
                      observed_until=9.6)
    verdicts = by_check(SCENARIO, history)
    assert outcome(list(verdicts.values())) == "error"
    assert verdicts["probe_stream"].message.startswith(
        "no reading of the target from t=5.0 s to t=9.5 s (4.5 s; at most 3 s between readings")
    assert verdicts["probe_stream"].message.endswith("no probe error recorded (a starved probe)")


def test_probe_errors_that_left_a_gap_make_the_case_an_error() -> None:
    restarted = [*readings(0.0, 2.0), *readings(6.0, 8.0)]  # the stream ended at 2 s and came back at 6 s
    history = healthy(samples=restarted, settled=snap(7.0), idle_cpu=window(0.5, 0.0, t=7.25), started=0.0,
                      observed_until=8.0, probe_errors=[STREAM_DIED, "probe stream ended (exit 1): no such container"])
    verdicts = judge(SCENARIO, history)
    assert outcome(verdicts) == "error"
    gap = by_check(SCENARIO, history)["probe_stream"].message
    assert "from t=2.0 s to t=6.0 s (4.0 s;" in gap and f"{STREAM_DIED} (and 1 more)" in gap


def test_probe_errors_that_left_no_gap_change_nothing() -> None:
    history = healthy(samples=readings(0.0, 8.0), settled=snap(7.0), started=0.0, observed_until=8.1,
                      probe_errors=["probe stream: unreadable reading: Expecting value", "capture: no tcpdump"])
    verdicts = judge(SCENARIO, history)
    assert outcome(verdicts) == "pass" and "probe_stream" not in [v.check for v in verdicts]


def test_a_stopped_or_crashed_target_leaves_nothing_to_settle_and_crash_judges_it() -> None:
    stopped = TargetState(running=False, started_at="T0", exit_code=0)
    gone = dict(samples=readings(0.25, 3.0), settled=None, idle_cpu=None, target_after=stopped, observed_until=None)
    stop_case = replace(SCENARIO, fault=StopTarget(deadline_s=10))
    verdicts = by_check(stop_case, healthy(stop_elapsed_s=2.0, **gone))
    assert outcome(list(verdicts.values())) == "pass"
    assert not verdicts["fd_leak"].applicable and "probe_stream" not in verdicts
    crashed = healthy(**(gone | {"target_after": replace(stopped, exit_code=1)}))
    verdicts = by_check(SCENARIO, crashed)
    assert [check for check, v in verdicts.items() if v.failed or v.missing] == ["crash"]


PIPELINED = client("pipelined", connections=2, requests=3)
SLOWLORIS = client("slowloris", expect=Expect(responses=0, statuses=None, cut_off_s=4.5))


def test_a_client_without_a_result_is_an_error_not_a_pass() -> None:
    scenario = Scenario("some_case", "test", (PIPELINED,))
    history = healthy(clients=[client_outcome(PIPELINED, exit_code=1)])  # `docker exec` failed: no JSON
    verdicts = by_check(scenario, history)
    assert outcome(list(verdicts.values())) == "error"
    for check in ("stall", "wrong_response"):
        assert verdicts[check].missing
        assert verdicts[check].message == "2 × pipelined (requests=3) failed (exit 1): boom; its result is missing"
    hung = by_check(scenario, healthy(clients=[client_outcome(PIPELINED, exit_code=None)]))
    assert hung["stall"].missing and "did not finish within its deadline" in hung["stall"].message


def test_a_missing_result_of_a_client_that_must_be_cut_off_is_an_error() -> None:
    scenario = Scenario("some_case", "test", (SLOWLORIS,))
    verdicts = by_check(scenario, healthy(clients=[client_outcome(SLOWLORIS, exit_code=137)]))
    assert verdicts["no_timeout"].missing and outcome(list(verdicts.values())) == "error"


def test_a_missing_result_next_to_a_failure_is_a_failure() -> None:
    scenario = Scenario("some_case", "test", (PIPELINED, SLOWLORIS))
    short = answered(PIPELINED, per_connection=1)
    verdicts = by_check(scenario, healthy(clients=[short, client_outcome(SLOWLORIS, exit_code=1)]))
    assert verdicts["stall"].failed and "its result is missing" in verdicts["stall"].message
    assert outcome(list(verdicts.values())) == "fail"


def test_a_case_that_kills_its_clients_does_not_need_their_results() -> None:
    scenario = Scenario("some_case", "test", (PIPELINED,), fault=KillClients())
    verdicts = judge(scenario, healthy(clients=[client_outcome(PIPELINED, exit_code=137)]))
    assert outcome(verdicts) == "pass"


def test_a_case_holding_tens_of_thousands_of_sockets_allows_the_longer_gaps_its_readings_take() -> None:
    # A reading of 16,000 sockets took 3-5 s here (fleet_16000 on the board: a 4.7 s gap): that case's own bound.
    history = healthy(samples=[*readings(0.0, 7.75), *readings(12.5, 14.0)], settled=snap(13.0),
                      idle_cpu=window(0.5, 0.0, t=13.25), started=0.0, observed_until=14.1)
    assert by_check(SCENARIO, history)["probe_stream"].missing
    patient = replace(SCENARIO, limits=replace(SCENARIO.limits, max_reading_gap_s=10.0))
    verdicts = by_check(patient, history)
    assert "probe_stream" not in verdicts and not verdicts["cpu_spin"].missing, verdicts["cpu_spin"].message
