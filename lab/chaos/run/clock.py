"""The runner's clock: the real one in the lab, a fake one in unit tests, so that the runner's waits, windows and
event times are tested without waiting. Readings carry the probe's own time (the same monotonic clock)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
