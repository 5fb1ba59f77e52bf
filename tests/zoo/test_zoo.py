"""The bug zoo: each broken variant of the bundled server must be caught.

The control, that the clean server passes each of these cases on a fresh process in the variant's trigger mode, is
the chaos catalog's own run of that case (test_catalog.py in the chaos tests, marked `zoo` as well): `make zoo`
runs both.
"""

from __future__ import annotations

import pytest

from lab.chaos.run.scheduler import Job
from lab.chaos.run.session import LabSession
from lab.chaos.views.pytest_plugin import bundled_target, planned, play_job

pytestmark = [pytest.mark.zoo,
              pytest.mark.skipif(not bundled_target(), reason="the zoo breaks the bundled server only")]


@pytest.mark.parametrize("job", planned(zoo=True))
def test_variant_is_caught(lab_session: LabSession, job: Job) -> None:
    play_job(lab_session, job)  # caught: detected by a check that names the symptom; else MISSED (or an error)
