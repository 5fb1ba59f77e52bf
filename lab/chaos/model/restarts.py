"""A process of the target replaced during a case (a worker that died and was respawned): `crash` fails on it.

Pure: judged on the (pid, start ticks) of the target's processes in the probe's readings. Servers start helper
processes legitimately (a CGI-style child per request, a cache loader), and gunicorn or uvicorn run a master and
workers; neither is a restart. A restart is a process that served before the case and is gone, and a process that
started during the case and stays: one present at the baseline that had lived SERVING_S when last seen (a request's
helper lives milliseconds, and the baseline is taken quiet, with no request in flight), missing from a later
reading, while a process born after the baseline has lived STAYS_S at the last reading and is there.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.chaos.model.cpu_stream import stream
from lab.chaos.model.history import CaseHistory
from lab.probe import Snapshot

# /proc/PID/stat counts a process's start in USER_HZ, 100 on every Linux the lab runs on; the monotonic clock
# and boot time agree (no suspend in a container host), so a start tick dates a process on the readings' clock.
USER_HZ = 100
# Lived this long when last seen: a process of the server, not a request's helper. A lab brought up for one case
# takes its baseline a second after the target starts: gunicorn's workers were 0.8 s old there.
SERVING_S = 0.25
STAYS_S = 0.5  # a replacement this old at the last reading serves: it is not a request's passing helper


def processes_settled(reading: Snapshot) -> bool:
    """Every process of the target has lived SERVING_S: a baseline taken sooner (a target just started, whose
    worker was forked a moment ago) would take the server's own processes for a request's passing helpers."""
    return all(reading.t - start / USER_HZ >= SERVING_S for _, start in reading.procs)


@dataclass(frozen=True)
class Replacement:
    gone_pid: int
    gone_start_s: float  # when each process started, on the case's clock (seconds from its start)
    gone_by_s: float  # the first reading without it
    new_pid: int
    new_start_s: float

    def describe(self) -> str:
        return (f"pid {self.gone_pid} (started {_when(self.gone_start_s)}, gone by {_when(self.gone_by_s)}) "
                f"replaced by pid {self.new_pid} (started {_when(self.new_start_s)}, still running at the end)")


def _when(seconds: float) -> str:
    return f"{seconds:.1f} s into the case" if seconds >= 0 else f"{-seconds:.1f} s before the case"


def replacements(history: CaseHistory) -> list[Replacement]:
    readings = [reading for reading in stream(history) if reading.procs]
    if len(readings) < 2 or not history.baseline.procs:
        return []  # readings from an older agent: no processes to compare
    origin = history.started if history.started is not None else history.baseline.t
    baseline = set(history.baseline.procs)
    last = set(readings[-1].procs)
    last_seen: dict[tuple[int, int], float] = {}
    gone_by: dict[tuple[int, int], float] = {}
    for reading in readings:
        present = set(reading.procs)
        for proc in baseline & present:
            last_seen[proc] = reading.t
        for proc in baseline - present:
            gone_by.setdefault(proc, reading.t)

    def started(proc: tuple[int, int]) -> float:
        return proc[1] / USER_HZ - origin

    serving = [proc for proc in gone_by if last_seen.get(proc, history.baseline.t) - proc[1] / USER_HZ >= SERVING_S]
    staying = [proc for proc in last - baseline if readings[-1].t - proc[1] / USER_HZ >= STAYS_S]
    return [Replacement(gone[0], started(gone), gone_by[gone] - origin, new[0], started(new))
            for gone in sorted(serving) for new in sorted(staying)[:1]]
