"""What the probe's stream of readings covered in a case, and where it fell silent: pure, for the checks.

A verdict judged on readings that are not there is missing data (lab.chaos.model.checks.missing), never a pass.
"""

from __future__ import annotations

import itertools

from lab.chaos.model.history import CaseHistory

# Readings come every 0.25 s (lab.chaos.run.runner). A silence longer than the case's Limits.max_reading_gap_s (3 s;
# fleet_16000's 10 s: a reading of 16,000 sockets takes seconds) means the probe died or was starved, and what fds,
# sockets, CPU and memory did in it is unknown.


def reading_times(history: CaseHistory) -> list[float]:
    """When each reading of the target the history holds was taken (the probe's monotonic clock)."""
    snapshots = [history.baseline, *history.samples, *([history.settled] if history.settled else [])]
    for window in (history.idle_cpu, history.held_cpu):
        snapshots += [window.start, window.end] if window is not None else []
    return sorted({snapshot.t for snapshot in snapshots})


def case_time(history: CaseHistory, t: float) -> str:
    """A time on the case's clock (its events'), e.g. "t=3.2 s"."""
    origin = history.started if history.started is not None else history.baseline.t
    return f"t={t - origin:.1f} s"


def probe_errors(history: CaseHistory) -> list[str]:
    """The stream's errors and the runner's notes on readings that did not come (a capture's trouble is not theirs)."""
    return [error for error in history.probe_errors if not error.startswith("capture: ")]


def stream_trouble(history: CaseHistory) -> str:
    """Why readings are missing, for a message: when the stream last gave one, and what the probe said."""
    last = case_time(history, reading_times(history)[-1])
    errors = probe_errors(history)
    if errors:
        return f"the probe stream ended at {last}: {first_of(errors)}"
    return f"the probe's last reading was taken at {last}, with no probe error recorded"


def longest_gap(history: CaseHistory) -> tuple[float, float]:
    """The longest stretch without a reading, from the baseline to the case's last measurement (or the last
    reading, when that is not known)."""
    readings = reading_times(history)
    if history.observed_until is not None and history.observed_until > readings[-1]:
        readings.append(history.observed_until)
    pairs = list(itertools.pairwise(readings)) or [(readings[0], readings[0])]
    return max(pairs, key=lambda pair: pair[1] - pair[0])


def first_of(errors: list[str]) -> str:
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return errors[0] + more
