"""The bug zoo: each broken variant of the bundled server must be caught.

The control, that the clean server passes each of these cases on a fresh process in the variant's trigger mode, is
the chaos catalog's own run of that case (tests/chaos/test_catalog.py, marked `zoo` as well): `make zoo` runs both.
"""

from __future__ import annotations

import pytest

from lab.chaos import catalog
from lab.chaos.pytest_plugin import CaseUnjudged, bundled_target, play
from lab.chaos.session import LabSession, Variant
from lab.chaos.zoo import ZOO, ZooEntry

pytestmark = [pytest.mark.zoo,
              pytest.mark.skipif(not bundled_target(), reason="the zoo breaks the bundled server only")]


@pytest.mark.parametrize("entry", [pytest.param(entry, id=entry.bug) for entry in ZOO])
def test_variant_is_caught(lab_session: LabSession, case_seed: int, entry: ZooEntry) -> None:
    variant = Variant(entry.trigger, entry.bug)
    caught: dict[str, list[str]] = {}
    for case_id in entry.cases:
        verdicts = play(lab_session, catalog.get(case_id), variant, case_seed, fresh=True)
        # a check whose data is missing (an error) is named apart: it never counts as caught
        caught[case_id] = [v.check if v.failed else f"{v.check} (missing data)"
                           for v in verdicts if v.failed or v.missing]
        if entry.catches & set(caught[case_id]):
            return  # detected, by a check that names the symptom
    if any(" (missing data)" in check for checks in caught.values() for check in checks):
        raise CaseUnjudged(f"{entry.bug} ({entry.symptom}) was not caught, and a case could not be judged (an error,"
                           f" not a miss): failed and unjudged checks per case: {caught}")
    pytest.fail(f"{entry.bug} ({entry.symptom}) went undetected: expected one of {sorted(entry.catches)} "
                f"to fail; failed checks per case: {caught}")
