"""The catalog and the zoo are data: each entry must be something the clients and the runner can play."""

from __future__ import annotations

import pytest

from clients.registry import get_behaviour
from lab.chaos import catalog
from lab.chaos.runner import client_command
from lab.chaos.scenario import Scenario, client
from lab.chaos.zoo import ZOO
from server.bugs import BUGS


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
    from lab.chaos.session import LabSession, Variant
    from lab.settings import LabConfig

    session = LabSession(LabConfig(), log=lambda _: None)
    env = session.config_for(catalog.BY_ID["connect_and_close"], Variant("level", "no_eof_check")).compose_env()
    assert (env["LAB_TARGET_HEADER_TIMEOUT"], env["LAB_TARGET_IDLE_TIMEOUT"], env["LAB_BUG"]) == ("10", "5",
                                                                                                   "no_eof_check")
    assert session.config_for(catalog.BY_ID["slowloris"], Variant("level")).compose_env()[
        "LAB_TARGET_HEADER_TIMEOUT"] == "2"
