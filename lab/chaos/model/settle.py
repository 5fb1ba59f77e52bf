"""Which reading of the target the settle checks judge (fd_leak, close_wait, stale_connection).

A case's settle bound says: within `bound` seconds of the clients being done, the target is back to its
baseline. Readings are judged by the time the probe took them, never by when they reached the host: on a loaded
machine a reading can arrive seconds late, by when a server's own timeout (a 2 s header deadline) has closed
the socket it had left in CLOSE_WAIT, and the bug would go unseen.
"""

from __future__ import annotations

from collections.abc import Sequence

from lab.probe import Snapshot


def is_settled(baseline: Snapshot, reading: Snapshot) -> bool:
    """Back to the baseline: no more fds, CLOSE_WAIT or ESTABLISHED sockets than before the case."""
    return (reading.fds <= baseline.fds
            and reading.sockets("CLOSE_WAIT") <= baseline.sockets("CLOSE_WAIT")
            and reading.sockets("ESTABLISHED") <= baseline.sockets("ESTABLISHED"))


def settle_reading(baseline: Snapshot, readings: Sequence[Snapshot], began: float,
                   bound: float) -> Snapshot | None:
    """The reading to judge, of those taken from `began` on (the probe's monotonic clock):
    - the first one within the bound that is back to the baseline;
    - else the last one within the bound, if it was taken in the bound's second half: the target had most of
      its time and was not back;
    - else the first one after the bound: the readings within it were too sparse to fail a server on;
    - None when there is none of these (an early reading not back to the baseline, and none after it, says
      neither way: the stream died), so the checks say the reading is missing."""
    after = sorted((reading for reading in readings if reading.t >= began), key=lambda reading: reading.t)
    within = [reading for reading in after if reading.t <= began + bound]
    for reading in within:
        if is_settled(baseline, reading):
            return reading
    if within and within[-1].t >= began + bound / 2:
        return within[-1]
    later = [reading for reading in after if reading.t > began + bound]
    return later[0] if later else None


def settle_decided(baseline: Snapshot, readings: Sequence[Snapshot], began: float, bound: float) -> bool:
    """Whether the readings so far fix the verdict: one within the bound is back to the baseline, or one was
    taken after the bound."""
    return any(reading.t > began + bound
               or (reading.t >= began and is_settled(baseline, reading)) for reading in readings)
