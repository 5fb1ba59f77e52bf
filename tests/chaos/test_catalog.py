"""The chaos catalog against the target: the bundled server in both trigger modes, or any image."""

from __future__ import annotations

import pytest
from _pytest.mark import ParameterSet

from lab.chaos.catalog import CATALOG
from lab.chaos.pytest_plugin import failure_text, play, variants
from lab.chaos.scenario import Scenario
from lab.chaos.session import LabSession, Variant


def cases() -> list[ParameterSet]:
    return [pytest.param(variant, scenario, id=f"{variant.label}-{scenario.id}",
                         marks=[pytest.mark.heavy] if scenario.heavy else [])
            for scenario in CATALOG for variant in variants(scenario)]


@pytest.mark.parametrize(("variant", "scenario"), cases())
def test_case(lab_session: LabSession, case_seed: int, variant: Variant, scenario: Scenario) -> None:
    verdicts = play(lab_session, scenario, variant, case_seed)
    assert not any(v.failed for v in verdicts), failure_text(verdicts)
