"""The chaos catalog against the target: the bundled server in both trigger modes, or any image.

The jobs are the lab's own plan (lab.chaos.run.scheduler.plan), each played as the scheduler's workers play it; the
clean server's zoo controls (a case some zoo variant is judged on, in its trigger mode) run on a fresh process
and are marked `zoo` too.
"""

from __future__ import annotations

import pytest

from lab.chaos.run.scheduler import Job
from lab.chaos.run.session import LabSession
from lab.chaos.views.pytest_plugin import planned, play_job


@pytest.mark.parametrize("job", planned())
def test_case(lab_session: LabSession, job: Job) -> None:
    play_job(lab_session, job)  # a check that failed, or one whose data is missing (an error), fails the test
