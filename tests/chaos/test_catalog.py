"""The chaos catalog against the target: the bundled server in both trigger modes, or any image."""

from __future__ import annotations

import pytest
from _pytest.mark import ParameterSet

from lab.chaos.catalog import CATALOG
from lab.chaos.pytest_plugin import bundled_target, play, require_pass, variants
from lab.chaos.scenario import Scenario
from lab.chaos.session import LabSession, Variant
from lab.chaos.zoo import clean_pairs

# The bug zoo's controls: a case some variant is judged on, in that variant's trigger mode, runs on a fresh clean
# process (as the variants do), so its pass says the variant's failure is the bug's.
ZOO_CONTROLS = set(clean_pairs())


def is_zoo_control(scenario: Scenario, variant: Variant) -> bool:
    return bundled_target() and not variant.bug and (scenario.id, variant.trigger) in ZOO_CONTROLS


def cases() -> list[ParameterSet]:
    return [pytest.param(variant, scenario, id=f"{variant.label}-{scenario.id}",
                         marks=([pytest.mark.heavy] if scenario.heavy else [])
                         + ([pytest.mark.zoo] if is_zoo_control(scenario, variant) else []))
            for scenario in CATALOG for variant in variants(scenario)]


@pytest.mark.parametrize(("variant", "scenario"), cases())
def test_case(lab_session: LabSession, case_seed: int, variant: Variant, scenario: Scenario) -> None:
    verdicts = play(lab_session, scenario, variant, case_seed, fresh=is_zoo_control(scenario, variant))
    require_pass(verdicts)  # a check that failed, or one whose data is missing (an error), fails the test
