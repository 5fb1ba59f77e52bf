"""The catalog and the zoo are data: each entry must be something the clients and the runner can play."""

from __future__ import annotations

import pytest

from clients.registry import get_behaviour
from lab.chaos.model import catalog
from lab.chaos.model.scenario import HEADER_TIMEOUT_S, IDLE_TIMEOUT_S, WRITE_TIMEOUT_S, Scenario, client
from lab.chaos.model.settle import settle_reading
from lab.chaos.model.zoo import ZOO
from lab.chaos.run.runner import client_command
from lab.toxics import SlowClose
from server.bugs import BUGS
from tests.lab_unit.histories import answered, connection, failed, healthy, outcome, response, snap


@pytest.mark.parametrize("scenario", catalog.CATALOG, ids=lambda s: s.id)
def test_every_client_run_is_valid_for_its_behaviour(scenario: Scenario) -> None:
    for run in scenario.clients:
        get_behaviour(run.behaviour)  # raises for an unknown behaviour
        resolved = run.resolved_attributes()  # raises BadArgument for a wrong attribute or value
        assert run.max_duration_s() == resolved["max_duration_s"]
        command = client_command(run, "target:8080", seed=1)
        assert command[:5] == ["python3", "-m", "clients", "run", run.behaviour]


@pytest.mark.parametrize("scenario", catalog.CATALOG, ids=lambda s: s.id)
def test_every_client_knows_how_many_responses_it_must_get(scenario: Scenario) -> None:
    for run in scenario.clients:
        count = run.responses_per_connection()
        assert count is not None, (f"{scenario.id}: {run.describe()} cannot tell how many responses to expect; "
                                   "give it Expect(responses=...)")
        assert count >= 0


def test_counts_come_from_the_plans() -> None:
    assert catalog.get("pipelined").clients[0].plan_text() == "20×2 pipelined"
    assert [run.plan_text() for run in catalog.get("fast_sender").clients] == ["1000×4 pipelined", "1×1 well_behaved"]
    assert catalog.get("well_behaved").clients[0].plan_text() == "3×4 well_behaved"
    assert catalog.get("connect_storm").clients[0].plan_text() == "1×1000 connect_storm"  # every GET answered
    assert catalog.get("idle_connections_2000").clients[0].plan_text() == "1×2000 flood"  # then idle keep-alive


def test_behaviours_state_their_count_from_their_attributes() -> None:
    assert client("flood", idle=False).must_get() == 1
    assert client("connect_storm").must_get() == 0
    assert client("slow_reader", mode="stop").must_get() == 0
    assert client("malformed", variant="garbage").must_get() == 1
    assert client("malformed").responses_per_connection() is None  # random: may be an endless head
    with pytest.raises(ValueError, match=r"Expect\(responses=\.\.\.\)"):
        client("malformed", variant="endless_headers").must_get()


HOLDING = ("idle_connections_2000", "slowloris", "slow_body", "connect_and_idle", "slow_reader", "stopped_reader",
           "fd_exhaustion", "paused_client", "client_disconnected")


@pytest.mark.parametrize("case_id", HOLDING)
def test_cases_that_hold_connections_measure_cpu_meanwhile(case_id: str) -> None:
    held = catalog.get(case_id).held_cpu
    assert held is not None and held.connections >= 1
    assert held.bound <= 0.1  # a spinning loop takes a whole core


def test_every_bug_of_the_server_is_in_the_zoo_with_cases_from_the_catalog() -> None:
    assert {entry.bug for entry in ZOO} == set(BUGS)
    for entry in ZOO:
        assert entry.trigger in ("level", "edge")
        for case_id in entry.cases:
            catalog.get(case_id)


RFC_FAMILIES = {"rfc_host_": 10, "rfc_te_": 4, "rfc_cl_and_te": 1}


@pytest.mark.parametrize(("prefix", "count"), RFC_FAMILIES.items())
def test_every_variant_of_an_rfc_probe_is_its_own_case(prefix: str, count: int) -> None:
    """Issue 22: one case per variant (one cell on the board), so nothing a server is judged on hangs on the seed."""
    cases = [scenario for scenario in catalog.CATALOG if scenario.id.startswith(prefix)]
    variants = [dict(run.attributes)["variant"] for scenario in cases for run in scenario.clients]
    assert len(cases) == count and len(set(variants)) == count and all(len(s.clients) == 1 for s in cases)


def test_the_catalog_s_variant_names_are_the_behaviour_s() -> None:
    from clients.behaviours import malformed

    assert catalog.INVALID_HOSTS == malformed.INVALID_HOSTS and catalog.TE_NOT_FINAL == malformed.TE_NOT_FINAL
    assert set(catalog.BAD_VERSION_VARIANTS) == {f"bad_version_{name}" for name in malformed.BAD_VERSION_BY_NAME}
    # No case of the catalog sends a request its seed picks (the fuzzing "random" mix aside).
    seeded = {"bad_version", "random"}
    used = {dict(run.attributes).get("variant") for scenario in catalog.CATALOG for run in scenario.clients
            if run.behaviour == "malformed"}
    assert not used & seeded


def test_unknown_case_names_the_way_to_list_them() -> None:
    with pytest.raises(KeyError, match="python -m lab cases"):
        catalog.get("no_such_case")


def test_a_case_s_own_target_deadlines_reach_the_compose_file_and_others_keep_the_lab_s() -> None:
    from lab.chaos.run.session import LabSession, Variant
    from lab.settings import LabConfig

    session = LabSession(LabConfig(), log=lambda _: None)
    env = session.config_for(catalog.BY_ID["connect_and_close"], Variant("level", "no_eof_check")).compose_env()
    assert (env["LAB_TARGET_HEADER_TIMEOUT"], env["LAB_TARGET_IDLE_TIMEOUT"], env["LAB_BUG"]) == ("10", "5",
                                                                                                   "no_eof_check")
    assert session.config_for(catalog.BY_ID["slowloris"], Variant("level")).compose_env()[
        "LAB_TARGET_HEADER_TIMEOUT"] == "2"


def test_another_server_s_lab_is_not_recreated_for_the_bundled_server_s_deadlines() -> None:
    """connection_rounds and connect_and_close set the bundled server's deadlines; an unseen server has its own
    (its profile), so switching its lab to those cases would recreate its container for nothing. Its fd limit
    (a ulimit) still applies."""
    from lab.chaos.run.session import LabSession, Variant
    from lab.settings import LabConfig

    session = LabSession(LabConfig(target_image="someone/server:1"), log=lambda _: None)
    plain = session.config_for(catalog.BY_ID["well_behaved"], Variant())
    assert session.config_for(catalog.BY_ID["connection_rounds"], Variant()) == plain
    assert session.config_for(catalog.BY_ID["connect_and_close"], Variant()) == plain
    assert session.config_for(catalog.BY_ID["fd_exhaustion"], Variant()).target_nofile == 64
    bundled = LabSession(LabConfig(), log=lambda _: None)
    assert bundled.config_for(catalog.BY_ID["connection_rounds"], Variant("level")).target_idle_timeout_s == 1


# -- prompt close on FIN (issue 21 item 4) ------------------------------------------------------------------------
# Behaviours whose connections close by themselves right after their last complete response (or, for
# half_close, once the server's response is whole): nothing is left for a deadline to clean up.
CLOSE_AFTER_RESPONSES = frozenset({"well_behaved", "pipelined", "fragmented", "half_close", "slow_body",
                                   "slow_reader", "malformed", "connect_storm"})


def _closes_right_after_responses(scenario: Scenario) -> bool:
    """Every client closes right after complete responses, and nothing between them delays or drops the close."""
    return (scenario.fault is None and not scenario.heavy
            and not any(isinstance(toxic, SlowClose) for toxic in scenario.toxics)
            and all(run.behaviour in CLOSE_AFTER_RESPONSES and run.expect.cut_off_s is None
                    and run.expect.statuses is not None for run in scenario.clients))


@pytest.mark.parametrize("scenario", catalog.CATALOG, ids=lambda s: s.id)
def test_cases_whose_clients_close_right_after_their_responses_use_the_prompt_bound(scenario: Scenario) -> None:
    if _closes_right_after_responses(scenario):
        assert scenario.limits.settle_s == catalog.PROMPT.settle_s < HEADER_TIMEOUT_S


def test_both_shapes_of_prompt_close_are_judged_on_the_direct_route() -> None:
    prompt = [case for case in catalog.CATALOG if _closes_right_after_responses(case)]
    direct = [run for case in prompt for run in case.clients if run.route == "direct"]
    assert any(run.behaviour == "well_behaved" and run.must_get() == 1 for run in direct)  # one request
    assert any(run.behaviour in ("well_behaved", "pipelined") and run.must_get() > 1 for run in direct)  # a sequence


@pytest.mark.parametrize("case_id", ["well_behaved", "pipelined", "post_body", "keepalive_pauses"])
def test_a_fin_left_to_the_idle_timer_fails(case_id: str) -> None:
    # The clients closed (FIN) on idle kept-alive connections; the server noticed only when its 5 s idle timer
    # reaped them: CLOSE_WAIT until 4.8 s into the settle wait, read every 0.25 s.
    scenario = catalog.get(case_id)
    baseline = snap(0.0)
    began = 10.0
    readings = [snap(began + 0.25 * i, fds=12, close_wait=4) for i in range(20)]
    readings += [snap(began + 5.0 + 0.25 * i) for i in range(12)]
    settled = settle_reading(baseline, readings, began, scenario.limits.settle_s)
    assert settled is not None and settled.t <= began + 1.0
    history = healthy(baseline=baseline, settled=settled, settle_elapsed_s=settled.t - began,
                      clients=[answered(run) for run in scenario.clients])
    found = failed(scenario, history)
    assert {"close_wait", "fd_leak"} <= set(found), found


# -- a busy connection outlives every deadline (issue 21 item 7) --------------------------------------------------
def test_the_busy_connection_outlives_every_deadline_beside_short_ones_that_reuse_its_fds() -> None:
    case = catalog.get("busy_connection")
    busy, short = case.clients
    longest = max(HEADER_TIMEOUT_S, IDLE_TIMEOUT_S, WRITE_TIMEOUT_S)
    busy_s = busy.must_get() * float(busy.resolved_attributes()["pause_ms"]) / 1000  # type: ignore[arg-type]
    assert busy.connections == 1 and busy_s >= 2 * longest and busy.max_duration_s() > busy_s
    assert busy.plan_text() == f"{busy.must_get()}×1 well_behaved"  # every request answered, else stall
    # Each short connection is done well inside any deadline of its own, and they come and go, a few at a time,
    # for longer than the idle deadline after the first ones closed: a deadline left armed by one fires on another.
    short_s = short.must_get() * float(short.resolved_attributes()["pause_ms"]) / 1000  # type: ignore[arg-type]
    assert short.concurrency is not None and short.concurrency < short.connections
    assert short_s < HEADER_TIMEOUT_S
    assert (short.connections // short.concurrency - 1) * short_s > IDLE_TIMEOUT_S
    assert short.must_get() > 1  # a connection cut off between its requests misses a response
    assert case.triggers == ("level",) and case.limits.settle_s == catalog.PROMPT.settle_s


def test_a_busy_connection_cut_off_by_a_deadline_stalls() -> None:
    case = catalog.get("busy_connection")
    busy, short = case.clients
    cut = outcome(busy, connection(*[response()] * 5, closed_by="server_fin", elapsed_s=5.0))
    found = failed(case, healthy(clients=[cut, answered(short)]))
    assert f"5 of {busy.must_get()} responses complete" in found["stall"]
