"""Open-loop latency figures of the canary's samples: percentiles and the longest time without an answer, on the
canary's own clock (its stalls taken out).

Pure functions of the samples (lab.chaos.model.history.CanarySample), for the slow_canary check.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from lab.chaos.model.history import CanarySample, CanaryStall


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least `fraction` of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass(frozen=True)
class Silence:
    """The longest stretch in which a request was due and none was answered."""

    seconds: float
    start: float  # monotonic time it began (the due time of the oldest request still owed, or the last answer)


def longest_silence(samples: Sequence[CanarySample]) -> Silence:
    """The longest of the `silences`."""
    return max(silences(samples), key=lambda silence: silence.seconds,
               default=Silence(0.0, min((sample.t for sample in samples), default=0.0)))


def unanswered_seconds(samples: Sequence[CanarySample], at_least_s: float) -> tuple[float, int]:
    """The time spent in silences of `at_least_s` or longer, and how many there were: a loop that stalls again
    and again adds up, where one scheduler hiccup of a loaded machine stays one."""
    long = [silence.seconds for silence in silences(samples) if silence.seconds >= at_least_s]
    return sum(long), len(long)


def silences(samples: Sequence[CanarySample]) -> list[Silence]:
    """Between two consecutive answers (of any requests), the time some request was owed: from the later of
    the previous answer and the oldest owed request's due time. A request never answered is owed to the end
    (the last answer or due time seen): a server that stops answering shows its whole silence."""
    if not samples:
        return []
    by_due = sorted(samples, key=lambda sample: sample.t)
    answers = sorted(answer for sample in samples if (answer := sample.answered) is not None)
    end = max([*answers, by_due[-1].t])
    owed: list[tuple[float, float]] = []  # (due, answered or inf) of requests due so far, oldest first
    pending = 0  # next request (by due time) not yet pushed
    found: list[Silence] = []
    previous = -math.inf
    for answer in [*answers, end]:
        while pending < len(by_due) and by_due[pending].t < answer:
            sample = by_due[pending]
            heapq.heappush(owed, (sample.t, math.inf if sample.answered is None else sample.answered))
            pending += 1
        while owed and owed[0][1] <= previous:  # answered at or before the previous answer: no longer owed
            heapq.heappop(owed)
        if owed:
            start = max(previous, owed[0][0])
            found.append(Silence(answer - start, start))
        previous = answer
    return found


def canary_time(moment: float, stalls: Sequence[CanaryStall]) -> float:
    """`moment` on the canary's own clock, which stops while the canary's process did not run."""
    return moment - stalled_seconds(stalls, -math.inf, moment)


def on_canary_clock(samples: Sequence[CanarySample], stalls: Sequence[CanaryStall]) -> list[CanarySample]:
    """The samples on the canary's own clock: a request due or in flight across a stall of the canary is that much
    earlier answered, and a silence the stall made that much shorter. A server's stall outside the canary's stays
    whole."""
    return [replace(sample, t=canary_time(sample.t, stalls),
                    latency_s=None if (answered := sample.answered) is None
                    else canary_time(answered, stalls) - canary_time(sample.t, stalls))
            for sample in samples]


def stalled_seconds(stalls: Sequence[CanaryStall], start: float, end: float) -> float:
    """How much of [start, end] the canary's process was stalled."""
    return sum(max(0.0, min(end, stall.start + stall.seconds) - max(start, stall.start)) for stall in stalls)
