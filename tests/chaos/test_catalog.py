"""The chaos catalog against the target: the bundled server in both trigger modes, or any image."""

from __future__ import annotations

import pytest
from _pytest.mark import ParameterSet

from lab.chaos.catalog import CATALOG
from lab.chaos.pytest_plugin import bundled_target, failure_text, play, record_skip
from lab.chaos.scenario import Scenario
from lab.chaos.session import LabSession, Variant


def cases() -> list[ParameterSet]:
    params: list[ParameterSet] = []
    bundled = bundled_target()
    for scenario in CATALOG:
        variants = [Variant(trigger) for trigger in scenario.triggers] if bundled else [Variant()]
        marks = [pytest.mark.heavy] if scenario.heavy else []
        params += [pytest.param(variant, scenario, id=f"{variant.label}-{scenario.id}", marks=marks)
                   for variant in variants]
    return params


@pytest.mark.parametrize(("variant", "scenario"), cases())
def test_case(lab_session: LabSession, case_seed: int, variant: Variant, scenario: Scenario) -> None:
    if "stats" in scenario.requires and not bundled_target():
        record_skip(scenario, variant, "needs the bundled server's /__lab/stats")
    if "deadlines" in scenario.requires and not bundled_target():
        record_skip(scenario, variant, "needs a deadline the lab sets on the bundled server only")
    verdicts = play(lab_session, scenario, variant, case_seed)
    assert not any(v.failed for v in verdicts), failure_text(verdicts)
