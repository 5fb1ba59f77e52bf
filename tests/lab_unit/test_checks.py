"""The checks are pure functions of a history: judged here on hand-made histories, no containers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lab.chaos.model import catalog
from lab.chaos.model.checks import CHECK_NAMES, judge
from lab.chaos.model.history import CanarySample, TargetState
from lab.chaos.model.scenario import Expect, Scenario, StopTarget, client
from tests.lab_unit.histories import (
    REPRO,
    SCENARIO,
    answered,
    connection,
    failed,
    healthy,
    outcome,
    passed,
    response,
    snap,
    window,
)


def test_a_healthy_history_passes_every_check() -> None:
    verdicts = judge(SCENARIO, healthy())
    assert [v.check for v in verdicts] == list(CHECK_NAMES)
    assert not [v for v in verdicts if v.failed]


def test_fd_leak_and_close_wait_name_the_numbers_and_the_repro() -> None:
    found = failed(SCENARIO, healthy(settled=snap(3.0, fds=11, close_wait=3)))
    assert set(found) == {"fd_leak", "close_wait"}
    assert "fd count 8 → 11 after 3 × connect_and_close" in found["fd_leak"]
    assert "3 sockets in CLOSE_WAIT" in found["close_wait"]
    assert REPRO in found["fd_leak"] and REPRO in found["close_wait"]


def test_stale_connections_are_counted_against_the_baseline() -> None:
    history = healthy(baseline=snap(established=1), settled=snap(3.0, established=1))
    assert "stale_connection" not in failed(SCENARIO, history)
    history.settled = snap(3.0, established=3)
    assert "2 ESTABLISHED sockets" in failed(SCENARIO, history)["stale_connection"]


def test_cpu_spin_after_the_case() -> None:
    assert "95% of a core" in failed(SCENARIO, healthy(idle_cpu=window(1.5, 0.95)))["cpu_spin"]
    assert "cpu_spin" in failed(SCENARIO, healthy(idle_cpu=window(2.0, 0.20)))  # 0.3 s over the 5% bound
    assert "cpu_spin" not in failed(SCENARIO, healthy(idle_cpu=window(1.5, 0.08)))  # a burst (model/cpu_stream)
    assert "0.0% of a core over 1.5 s after the case" in passed(SCENARIO, healthy())["cpu_spin"]


def test_memory_growth_uses_the_peak_and_the_case_limit() -> None:
    history = healthy(samples=[snap(1.0, rss_mib=14 + 100), snap(2.0)])
    assert "+100.0 MiB" in failed(SCENARIO, history)["memory_growth"]
    roomy = replace(SCENARIO, limits=replace(SCENARIO.limits, max_rss_growth_bytes=200 << 20))
    assert "memory_growth" not in failed(roomy, history)


def test_crash_when_the_target_exited_or_restarted() -> None:
    died = healthy(target_after=TargetState(running=False, started_at="T0", exit_code=1), settled=None,
                   idle_cpu=None)
    found = failed(SCENARIO, died)
    assert set(found) == {"crash"}  # the /proc checks cannot judge a dead target: not applicable
    assert "exited with code 1" in found["crash"]
    restarted = healthy(target_after=TargetState(running=True, started_at="T1"))
    assert "restarted" in failed(SCENARIO, restarted)["crash"]


def test_stop_target_wants_exit_zero_within_the_deadline() -> None:
    scenario = replace(SCENARIO, fault=StopTarget(deadline_s=10))
    stopped = dict(target_after=TargetState(running=False, started_at="T0", exit_code=0), settled=None,
                   idle_cpu=None)
    assert "crash" not in failed(scenario, healthy(stop_elapsed_s=2.0, **stopped))
    assert "crash" in failed(scenario, healthy(stop_elapsed_s=12.0, **stopped))
    killed = dict(stopped, target_after=TargetState(running=False, started_at="T0", exit_code=137))
    assert "exit code 137" in failed(scenario, healthy(stop_elapsed_s=2.0, **killed))["crash"]


def test_a_target_the_case_stops_at_once_leaves_its_cpu_unjudged_not_missing() -> None:
    """nginx and aiohttp wrote the response and exited 0.1 s after the stop: two readings, nothing lost."""
    stopped = dict(target_after=TargetState(running=False, started_at="T0", exit_code=0), settled=None,
                   idle_cpu=None, samples=[snap(0.25)], stop_elapsed_s=0.1)
    stopping = replace(SCENARIO, fault=StopTarget(deadline_s=10))
    verdict = next(v for v in judge(stopping, healthy(**stopped)) if v.check == "cpu_spin")
    assert not verdict.applicable and not verdict.missing and "only 2 readings" in verdict.message
    crashed = next(v for v in judge(SCENARIO, healthy(**stopped)) if v.check == "cpu_spin")
    assert crashed.missing  # a target that exits of its own accord: the readings are missing, not unneeded
    stopping_later = healthy(**{**stopped, "samples": [snap(0.25), snap(0.5), snap(0.75)]})
    assert next(v for v in judge(stopping, stopping_later) if v.check == "cpu_spin").applicable


def test_wrong_response_for_a_bad_status_or_a_bad_body() -> None:
    run = client("well_behaved", requests=1)
    scenario = Scenario("some_case", "test", (run,))
    good = healthy(clients=[outcome(run, connection(response()))])
    assert not failed(scenario, good)
    assert passed(scenario, good)["wrong_response"] == "1 responses judged"
    bad_body = healthy(clients=[outcome(run, connection(response(ok=False)))])
    assert "differs from what was expected" in failed(scenario, bad_body)["wrong_response"]
    bad_status = healthy(clients=[outcome(run, connection(response(500, ok=False)))])
    assert "status 500, expected 200" in failed(scenario, bad_status)["wrong_response"]


def test_every_response_is_judged_not_only_the_first() -> None:
    run = client("pipelined", requests=20)
    scenario = Scenario("some_case", "test", (run,))
    nineteenth_wrong = [response()] * 18 + [response(ok=False), response()]
    found = failed(scenario, healthy(clients=[outcome(run, connection(*nineteenth_wrong))]))
    assert "pipelined #0 response 19: body of 13 bytes differs" in found["wrong_response"]


def test_bytes_that_are_not_a_response_are_a_wrong_response() -> None:
    run = client("well_behaved", requests=1)
    scenario = Scenario("some_case", "test", (run,))
    garbled = healthy(clients=[outcome(run, connection(response(), protocol_error="bad status line"))])
    assert "not a valid HTTP response (bad status line)" in failed(scenario, garbled)["wrong_response"]


def test_a_response_beyond_the_one_owed_is_wrong_where_the_rfc_owes_a_close() -> None:
    """HTTP/1.0 with Transfer-Encoding processed, then its chunked body answered as a second request (issue 22)."""
    run = client("malformed", variant="http10_te", expect=catalog.FRAMING_CONFLICT)
    scenario = Scenario("some_case", "test", (run,))
    smuggled = healthy(clients=[outcome(run, connection(response(ok=None), response(400, ok=None),
                                                        closed_by="server_fin"))])
    assert failed(scenario, smuggled)["wrong_response"].startswith(
        "malformed http10_te #0: 2 responses where 1 is owed (response 2: status 400)")
    once = healthy(clients=[outcome(run, connection(response(ok=None), closed_by="server_fin"))])
    assert not failed(scenario, once)  # processed (the 200 of the echo) and closed: what RFC 9112 6.1 allows
    kept = healthy(clients=[outcome(run, connection(response(ok=None), closed_by="client", elapsed_s=1.1))])
    assert "still connected after 1.1 s" in failed(scenario, kept)["no_timeout"]
    rejected_and_kept = healthy(clients=[outcome(run, connection(response(400, ok=None), elapsed_s=1.1))])
    assert set(failed(scenario, rejected_and_kept)) == {"no_timeout"}  # a 400 owes the close as well


def test_stall_when_responses_are_missing_or_the_client_never_finished() -> None:
    run = client("pipelined", requests=2)
    scenario = Scenario("some_case", "test", (run,))
    short = healthy(clients=[outcome(run, connection(response(), closed_by="deadline", elapsed_s=10.0))])
    assert "1 of 2 responses complete after 10.0 s (closed by deadline)" in failed(scenario, short)["stall"]
    hung = healthy(clients=[outcome(run, exit_code=None)])  # no result: missing, not failed (test_missing_data)
    assert "did not finish within its deadline" in {v.check: v.message for v in judge(scenario, hung)}["stall"]
    after = healthy(after_request_error="ConnectionRefusedError: refused")
    assert "a fresh request after the case failed" in failed(SCENARIO, after)["stall"]


def test_a_fresh_get_that_failed_because_the_target_exited_is_left_to_crash() -> None:
    exited = TargetState(running=False, started_at="T0", exit_code=1)
    dead = healthy(after_request_error="ConnectionRefusedError: refused", target_after=exited)
    assert set(failed(SCENARIO, dead)) == {"crash"}


def test_one_of_twenty_pipelined_responses_is_a_stall() -> None:
    run = client("pipelined", connections=2, requests=20)  # no Expect: the plan says 20 per connection
    scenario = Scenario("pipelined", "test", (run,))
    one_of_twenty = outcome(run, connection(*[response()] * 20, index=0),
                            connection(response(), index=1, closed_by="server_fin"))
    message = failed(scenario, healthy(clients=[one_of_twenty]))["stall"]
    assert "pipelined #1: 1 of 20 responses complete" in message
    assert "21/40 responses (20×2 pipelined)" in message
    whole = healthy(clients=[answered(run)])
    assert passed(scenario, whole)["stall"] == "40/40 responses (20×2 pipelined)"


def test_a_connect_storm_without_answers_is_a_stall() -> None:
    run = client("connect_storm", connections=1000, concurrency=50, request=True)
    scenario = Scenario("connect_storm", "test", (run,))
    silent = healthy(clients=[answered(run, 0, closed_by="server_fin")])
    message = failed(scenario, silent)["stall"]
    assert "connect_storm #0: 0 of 1 responses complete" in message and "(and 999 more)" in message
    assert "0/1000 responses (1×1000 connect_storm)" in message
    assert "stall" not in failed(scenario, healthy(clients=[answered(run)]))


def test_a_connection_the_client_never_reported_is_a_stall() -> None:
    run = client("well_behaved", connections=2, requests=1)
    scenario = Scenario("some_case", "test", (run,))
    found = failed(scenario, healthy(clients=[outcome(run, connection(response()))]))
    assert "1 of 2 connections reported" in found["stall"]


def test_a_case_may_lower_the_plans_count_explicitly() -> None:
    run = client("well_behaved", requests=3, expect=Expect(responses=1))
    scenario = Scenario("some_case", "test", (run,))
    assert "stall" not in failed(scenario, healthy(clients=[outcome(run, connection(response()))]))


def test_slow_canary_on_failures_or_latency() -> None:
    scenario = replace(SCENARIO, canary=True)
    fast = [CanarySample(t, 0.005, keep_alive=t % 2 == 1) for t in range(20)]
    assert "(10 on kept-alive connections;" in passed(scenario, healthy(canary=fast))["slow_canary"]
    slow = [*fast, CanarySample(21, 2.5)]
    assert "max 2500 ms" in failed(scenario, healthy(canary=slow))["slow_canary"]
    broken = [*fast, CanarySample(21, None, "ConnectionResetError")]
    assert "1 of 21 canary requests failed" in failed(scenario, healthy(canary=broken))["slow_canary"]
    none = {v.check: v for v in judge(scenario, healthy(canary=[]))}["slow_canary"]
    assert none.missing and "recorded no request" in none.message  # no data: an error, never a pass


def test_a_p50_of_a_handful_of_requests_is_not_judged_but_their_max_still_is() -> None:
    """careful-server close_after_partial_response in `make test`: 5 canary requests over 0.2 s, 3 of them
    delayed by one hiccup of the loaded host (one sent 100 ms late): a p50 of 64 ms that says nothing."""
    scenario = replace(SCENARIO, canary=True)
    handful = [CanarySample(0, 0.003), CanarySample(1, 0.02), CanarySample(2, 0.064), CanarySample(3, 0.1),
               CanarySample(4, 0.127)]
    verdict = {v.check: v for v in judge(scenario, healthy(canary=handful))}["slow_canary"]
    assert verdict.ok and "p50 not judged under 10 requests" in verdict.message
    slow_handful = [*handful[:4], CanarySample(4, 1.2)]
    assert "max 1200 ms" in failed(scenario, healthy(canary=slow_handful))["slow_canary"]
    ten = [CanarySample(t, 0.064) for t in range(10)]
    assert "p50 64 ms" in failed(scenario, healthy(canary=ten))["slow_canary"]


def test_one_hiccup_at_the_start_of_a_short_case_does_not_set_its_p50_but_a_slow_loop_still_does() -> None:
    """The engines test's one-engine scorecard, connect_and_close (level): 12 canary requests over 0.3 s, the first
    answered 196 ms after it was due, 8 held by that one silence: p50 59 ms. The silence bound judges it."""
    scenario = replace(SCENARIO, canary=True)
    due = [i * 0.025 for i in range(12)]
    hiccup = [CanarySample(t, max(0.196 - t, 0.004) if t < 0.196 else 0.004) for t in due]
    verdict = {v.check: v for v in judge(scenario, healthy(canary=hiccup))}["slow_canary"]
    assert verdict.ok, verdict.message
    assert "longest without an answer 196 ms" in verdict.message and "without the 8 the longest" in verdict.message
    lagging = [CanarySample(t, 0.06) for t in due]  # every answer 60 ms late: no one silence explains it
    assert "p50 60 ms" in failed(scenario, healthy(canary=lagging))["slow_canary"]
    twice = [CanarySample(t, 0.15) for t in due[:4]] + [CanarySample(t, 0.004) for t in due[4:8]] + \
        [CanarySample(t, 0.15) for t in due[8:]]  # two slow stretches: only the longest silence is set aside
    assert "p50 77 ms, p99 150 ms (both without the 4" in failed(scenario, healthy(canary=twice))["slow_canary"]


def test_slow_canary_bounds_are_tight() -> None:
    scenario = replace(SCENARIO, canary=True)
    sluggish = [CanarySample(t, 0.06) for t in range(20)]  # 60 ms each: a loop that lags
    assert "p50 60 ms" in failed(scenario, healthy(canary=sluggish))["slow_canary"]
    one_hiccup = [*[CanarySample(t, 0.005) for t in range(20)], CanarySample(21, 1.1)]  # just over the 1 s bound
    assert "max 1100 ms" in failed(scenario, healthy(canary=one_hiccup))["slow_canary"]


def test_a_wrong_body_on_a_kept_alive_canary_connection_fails() -> None:
    scenario = replace(SCENARIO, canary=True)
    samples = [CanarySample(0, 0.005), CanarySample(1, None, "body b'' (0 bytes)", keep_alive=True)]
    assert "on a kept-alive connection" in failed(scenario, healthy(canary=samples))["slow_canary"]


@pytest.mark.parametrize(("closed_by", "elapsed_s", "caught"), [
    ("server_fin", 2.1, False), ("server_reset", 3.0, False), ("server_fin", 9.0, True), ("deadline", 10.0, True),
])
def test_no_timeout_wants_the_server_to_cut_the_client_off_in_time(closed_by: str, elapsed_s: float,
                                                                   caught: bool) -> None:
    run = client("slowloris", expect=Expect(responses=0, statuses=None, cut_off_s=4.5))
    scenario = Scenario("some_case", "test", (run,))
    history = healthy(clients=[outcome(run, connection(closed_by=closed_by, elapsed_s=elapsed_s))])
    assert ("no_timeout" in failed(scenario, history)) is caught


def test_no_timeout_starts_the_server_s_clock_once_the_connection_is_established() -> None:
    """A server with a 3 s header deadline (bound 5.5 s): both SYNs of a connection dropped (a full listen queue),
    connect() took 3 s, and the server cut it 3.1 s later. Its deadline held; the network's 3 s are not the
    server's."""
    run = client("slowloris", expect=Expect(responses=0, statuses=None, cut_off_s=5.5))
    scenario = Scenario("some_case", "test", (run,))
    lost_syns = replace(connection(closed_by="server_fin", elapsed_s=6.1), connect_s=3.0)
    assert "no_timeout" not in failed(scenario, healthy(clients=[outcome(run, lost_syns)]))
    late = replace(lost_syns, connect_s=0.2)  # a server that took 5.9 s of its own
    message = failed(scenario, healthy(clients=[outcome(run, late)]))["no_timeout"]
    assert "cut off after 6.1 s of which connecting took 0.2 s" in message


def test_a_connection_s_connect_time_is_recorded_and_read_back() -> None:
    from clients.history import ConnectionHistory, Op, summarize_connection
    from clients.results import ConnectionResult

    history = ConnectionHistory(index=0, ops=[Op(10.0, "connect", args={"connect_s": 1.0}),
                                              Op(16.1, "recv", data=b"")])  # the server's FIN
    summary = summarize_connection(history)
    assert (summary.connect_s, summary.elapsed_s) == (1.0, 6.1)
    assert ConnectionResult.from_json(summary.to_json()) == summary
    saved_before = {key: value for key, value in summary.to_json().items() if key != "connect_s"}
    assert ConnectionResult.from_json(saved_before).connect_s == 0.0


def test_no_timeout_says_what_an_undeclared_deadline_costs() -> None:
    run = client("slowloris", expect=Expect(responses=0, statuses=None, cut_off_s=32.5, deadline="header",
                                            undeclared=True))
    scenario = Scenario("some_case", "test", (run,))
    held = healthy(clients=[outcome(run, connection(closed_by="deadline", elapsed_s=10.0))])
    assert failed(scenario, held)["no_timeout"].startswith(
        "no header deadline: a client that sends one byte a second holds a connection forever (slowloris #0 still "
        "connected after 10.0 s, the client's whole bounded run; the profile declares no [deadlines] header_s, "
        "the lab's ceiling is 30 s)")
    cut = healthy(clients=[outcome(run, connection(closed_by="server_fin", elapsed_s=8.0))])
    assert "no_timeout" not in failed(scenario, cut)  # a deadline it has, though undeclared, is within the ceiling


def test_stale_connection_also_asks_the_bundled_servers_registry() -> None:
    scenario = replace(SCENARIO, requires=frozenset({"stats"}))
    forgotten = healthy(stats_before={"open_connections": 1}, stats_after={"open_connections": 1})
    assert "stale_connection" not in failed(scenario, forgotten)
    held = healthy(stats_before={"open_connections": 1}, stats_after={"open_connections": 4})
    assert "still holds 3 connections" in failed(scenario, held)["stale_connection"]
    unreadable = healthy(stats_before={"open_connections": 1}, stats_after=None)
    assert "could not be read" in failed(scenario, unreadable)["stale_connection"]


def test_a_file_a_server_keeps_open_after_serving_it_is_no_connection_left_under_the_prompt_bound() -> None:
    """lighttpd keeps a served file open in its stat cache for seconds: under the 1 s bound (connections closed on
    the peer's FIN) only sockets count; a socket left over still fails."""
    from dataclasses import replace as swap

    from lab.chaos.model.catalog import PROMPT

    prompt = swap(SCENARIO, limits=PROMPT)
    base = swap(snap(), fds=8, fd_kinds={"socket": 3, "file": 4})
    cached = swap(snap(3.0), fds=9, fd_kinds={"socket": 3, "file": 5})
    leaked = swap(snap(3.0), fds=9, fd_kinds={"socket": 4, "file": 4})
    ok = {v.check: v for v in judge(prompt, healthy(baseline=base, settled=cached))}["fd_leak"]
    assert ok.ok and "not sockets: file 4 → 5" in ok.message
    assert "fd_leak" in failed(prompt, healthy(baseline=base, settled=leaked))
    assert "fd_leak" in failed(SCENARIO, healthy(baseline=base, settled=cached))  # the default bound: every fd
