"""`docker stop` of the target during a response: it must finish and exit 0 within the deadline."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from lab.chaos.faults.base import Fault, FaultHistory, FaultLab
from lab.settings import TARGET_SERVICE

STOP_SLACK_S = 5  # Docker's own SIGKILL comes this long after the deadline


@dataclass(frozen=True)
class StopTarget(Fault):
    kind: ClassVar[str] = "stop_target"
    stops_target: ClassVar[bool] = True
    deadline_s: float = 10.0  # seconds from SIGTERM to a graceful exit 0

    def apply(self, lab: FaultLab, history: FaultHistory) -> None:
        began = time.monotonic()
        lab.container(TARGET_SERVICE).stop(timeout=int(self.deadline_s) + STOP_SLACK_S)
        history.stop_elapsed_s = time.monotonic() - began
