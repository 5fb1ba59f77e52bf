"""The catalog and the zoo are data: each entry must be something the clients and the runner can play."""

from __future__ import annotations

import pytest

from clients.registry import get_behaviour
from lab.chaos import catalog
from lab.chaos.runner import client_command
from lab.chaos.scenario import Scenario
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


def test_every_bug_of_the_server_is_in_the_zoo_with_cases_from_the_catalog() -> None:
    assert {entry.bug for entry in ZOO} == set(BUGS)
    for entry in ZOO:
        assert entry.trigger in ("level", "edge")
        for case_id in entry.cases:
            catalog.get(case_id)


def test_unknown_case_names_the_way_to_list_them() -> None:
    with pytest.raises(KeyError, match="python -m lab cases"):
        catalog.get("no_such_case")
