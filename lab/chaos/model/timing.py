"""Where a case's time goes: each case splits its seconds into named phases, and a run sums them.

The lab's own speed is mostly waiting (clients that trickle, settle bounds, CPU windows); the split says which
wait to cut. `make test` prints the sum at its end.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

PHASES = ("lab", "prepare", "baseline", "clients", "settle", "cpu window", "after", "capture", "restore",
          "judge and report")


class PhaseClock:
    """`lap(phase)` adds the time since the previous lap (or since the clock was made) to `phase`."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._last = time.monotonic()

    def lap(self, phase: str) -> None:
        now = time.monotonic()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self._last
        self._last = now


def time_split(cases: Iterable[tuple[float, Mapping[str, float]]]) -> list[tuple[str, float]]:
    """The phases summed over cases given as (duration, phases), in PHASES order, then any phase not in it;
    `other` is each duration beyond its phases (e.g. a lab that could not run the case)."""
    totals: dict[str, float] = {}
    other = 0.0
    for duration, phases in cases:
        for phase, seconds in phases.items():
            totals[phase] = totals.get(phase, 0.0) + seconds
        other += max(0.0, duration - sum(phases.values()))
    ordered = [(phase, totals.pop(phase)) for phase in PHASES if phase in totals]
    ordered += sorted(totals.items())
    if other > 0:
        ordered.append(("other", other))
    return ordered


def split_line(cases: Iterable[tuple[float, Mapping[str, float]]]) -> str:
    """One line, e.g. `cases took 612 s: clients 301 s (49%), settle 40 s (7%), …`; "" for no case."""
    split = time_split(cases)
    total = sum(seconds for _, seconds in split)
    if total <= 0:
        return ""
    parts = ", ".join(f"{phase} {seconds:.0f} s ({100 * seconds / total:.0f}%)" for phase, seconds in split)
    return f"cases took {total:.0f} s: {parts}"
