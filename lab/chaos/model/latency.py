"""Open-loop latency figures of the canary's samples: percentiles and the longest time without an answer, on the
canary's own clock (the host's time taken out).

Pure functions of the samples (lab.chaos.model.history.CanarySample), for the slow_canary check.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

from lab.chaos.model.history import CanarySample


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


@dataclass(frozen=True)
class HostTime:
    """A span of which `share` was the host's time, not the server's: a stall of the canary's own process (all of
    it), or a reading interval in which one of the target's threads waited, runnable, for a CPU that long."""

    start: float
    seconds: float
    share: float = 1.0


class CanaryClock:
    """The canary's own clock: time less the host's share of it (at most all of it at any moment)."""

    def __init__(self, spans: Sequence[HostTime]) -> None:
        self._cuts = sorted({moment for span in spans for moment in (span.start, span.start + span.seconds)})
        self._rates = [min(1.0, sum(span.share for span in spans
                                    if span.start <= begin and end <= span.start + span.seconds))
                       for begin, end in pairwise(self._cuts)]
        self._host = [0.0]  # the host's seconds up to each cut
        for rate, (begin, end) in zip(self._rates, pairwise(self._cuts), strict=True):
            self._host.append(self._host[-1] + rate * (end - begin))

    def host_until(self, moment: float) -> float:
        if not self._cuts or moment <= self._cuts[0]:
            return 0.0
        if moment >= self._cuts[-1]:
            return self._host[-1]
        cut = bisect.bisect_right(self._cuts, moment) - 1
        return self._host[cut] + self._rates[cut] * (moment - self._cuts[cut])

    def host_between(self, start: float, end: float) -> float:
        return self.host_until(end) - self.host_until(start)

    def __call__(self, moment: float) -> float:
        return moment - self.host_until(moment)

    def samples(self, samples: Sequence[CanarySample]) -> list[CanarySample]:
        """The samples on this clock: a request due or in flight across the host's time is that much earlier
        answered, and a silence within it that much shorter. A server's stall outside it stays whole."""
        return [replace(sample, t=self(sample.t),
                        latency_s=None if (answered := sample.answered) is None else self(answered) - self(sample.t))
                for sample in samples]
