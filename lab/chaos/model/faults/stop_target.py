"""`docker stop` of the target during a response: it must finish and exit 0 within the deadline."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import ClassVar

from lab.chaos.model.faults.base import Fault, FaultHistory, FaultLab
from lab.settings import TARGET_SERVICE

STOP_SLACK_S = 5  # Docker's own SIGKILL comes this long after the deadline (a late exit is judged, not killed)


@dataclass(frozen=True)
class StopTarget(Fault):
    kind: ClassVar[str] = "stop_target"
    stops_target: ClassVar[bool] = True
    # Seconds from the stop signal to a graceful exit 0: a profile's [target] stop_s (lab.chaos.model.adapt).
    deadline_s: float = 10.0

    def stop_timeout_s(self) -> int:
        """`docker stop -t`: whole seconds, never less than the deadline, plus the slack."""
        return math.ceil(self.deadline_s) + STOP_SLACK_S

    def apply(self, lab: FaultLab, history: FaultHistory) -> None:
        began = time.monotonic()
        lab.container(TARGET_SERVICE).stop(timeout=self.stop_timeout_s())
        history.stop_elapsed_s = time.monotonic() - began
