"""CPU over the whole case: every interval of the probe's stream of readings judged (issue 21, item 2).

Pure functions of the readings (no Docker); `checks.cpu_spin` turns the result into a verdict. An interval is
*quiet* when no client traffic flows through it; an event loop with nothing to do sleeps in epoll_wait, so in
quiet time its CPU and its wakeups stay near zero. A spin is quiet time over those bounds sustained, not one
interval: a garbage collection, a worker's heartbeat or a timer wheel's tick is a burst, a busy loop is not.
The case as a whole stays within a budget of CPU per request, per connection and per MiB moved.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from lab.chaos.model.history import CaseHistory
from lab.chaos.model.scenario import IDLE_CPU_SHARE, HeldCpu
from lab.probe import Snapshot

MiB = 1 << 20

# -- the stream ------------------------------------------------------------------------------------------------
# Readings come every 0.25 s (runner.SAMPLE_INTERVAL_S), more slowly when one costs much (thousands of sockets);
# a gap over 3 s is a stream that stalled or died (the runner's READINGS_LATE_S): what it hides is unjudged.
MAX_GAP_S = 3.0
MIN_INTERVALS = 2  # fewer is no stream: a single interval says nothing about how long anything lasted

# -- quiet ----------------------------------------------------------------------------------------------------
# Bytes on the target's interfaces (headers included) that still leave an interval quiet: a slowloris trickle,
# a header line every 100 ms with its ACK, is ~150 B each on the wire, 1.5 kB/s; the smallest exchange on a
# fresh connection (handshake, request, answer, FINs: ~10 segments) is ~1 kB. 4 KiB/s lets the trickle through
# and counts a few exchanges a second as traffic. Over 0.25 s that is 1 KiB.
QUIET_BYTES_PER_S = 4096
# The canary's own request (a fresh connection or a kept-alive one): ~10 segments of ~66 B headers, a request
# line and headers, and a small answer (~300 B for GET /): 2 KiB covers a profile's small route too.
QUIET_BYTES_PER_CANARY = 2048
# A quiet loop's CPU: the lab's idle bound (scenario.IDLE_CPU_SHARE, 5 % of a core), plus the canary's requests
# at their argued cost (HeldCpu.cpu_s_per_canary_request, 2 ms each).
QUIET_SHARE = IDLE_CPU_SHARE
CPU_S_PER_CANARY = HeldCpu(1).cpu_s_per_canary_request
# Wakeups (voluntary context switches: the loop blocked, then ran again) a quiet target may make per second.
# An idle epoll loop makes 0-10 (its timers); a 100 Hz timer wheel 100; a few workers or runtime threads with
# timers of their own add some tens. Under `--capture` strace stops a traced thread at each syscall's entry and
# exit, each stop a voluntary switch too: a traced 100 Hz wheel shows ~300. A 1 ms polling loop makes ~1000 per
# thread untraced, a 2 ms one 500. 400/s is four times the wheel, over it traced, and under both polls.
QUIET_WAKEUPS_PER_S = 400.0
WAKEUPS_PER_CANARY = 10  # accept, read, write, close, each a wake of the loop, and a handoff or two between threads
# How long quiet time must stay over a bound to be a spin. With readings 0.25 s apart, a loop that spins for 1 s
# covers at least three whole intervals (0.75 s); a burst of 0.25 s or less touches at most two.
SUSTAINED_S = 0.75
# And across this many intervals: one interval, however long (readings come late on a busy host), cannot show
# that anything in it lasted; a burst of up to one interval's length touches at most two.
SUSTAINED_INTERVALS = 3
# CPU over the share bound a sustained stretch must also burn. A housekeeping burst is at most ~100 ms (CPython's
# full collection of a 100 MB heap of small objects); it lasts 0.75 s only across readings spaced out (a costly
# reading), and then less the bound's 37 ms it stays under 0.1 s. A loop spinning for a second burns 0.75 s or
# more; one that gets a fifth of a core on a loaded machine, 0.15 s over the bound in a second.
BURST_CPU_S = 0.1

# -- the whole case's budget -------------------------------------------------------------------------------------
# The base: the quiet share over the case's duration, plus one housekeeping burst.
# A request answered (client responses and canary requests): a Python server parses and answers GET / in a few
# hundred µs (HeldCpu's measure: ≤ 0.9 ms per canary request with 2,000 held); 2 ms each, as for the canary.
CPU_S_PER_REQUEST = 0.002
# A connection accepted and closed (with or without a request): accept, register, close, ~100-300 µs in Python.
CPU_S_PER_CONNECTION = 0.002
# A MiB on the wire, either way: in 4-64 KiB pieces a Python server spends 5-20 ms per MiB (HeldCpu's 0.05 s is
# several times that), but a body in 2-byte chunks (7 bytes each on the wire) is ~150,000 pieces per MiB to
# parse: the bundled server took 2.6 s for tiny_chunks' 8.6 MiB (0.3 s per MiB). 1 s per MiB leaves a slower
# parser three times that. A spin is the quiet rule's to catch; the budget bounds a case that never goes quiet.
CPU_S_PER_MIB = 1.0


@dataclass(frozen=True)
class Interval:
    """What the target did between two consecutive readings."""

    start: float  # seconds from the case's start
    seconds: float
    cpu_s: float
    moved: int | None  # bytes on the target's interfaces (else read and written) and drained input; None: unknown
    wakeups: int | None  # None: unknown
    canary: int  # canary requests started in it

    @property
    def share(self) -> float:
        return self.cpu_s / self.seconds

    @property
    def wakeups_per_s(self) -> float | None:
        return None if self.wakeups is None else self.wakeups / self.seconds

    @property
    def quiet(self) -> bool | None:
        """No client traffic; None: unknown (bytes could not be read)."""
        if self.moved is None:
            return None
        return self.moved <= QUIET_BYTES_PER_S * self.seconds + QUIET_BYTES_PER_CANARY * self.canary

    @property
    def cpu_bound_s(self) -> float:
        return QUIET_SHARE * self.seconds + CPU_S_PER_CANARY * self.canary

    @property
    def over_share(self) -> bool:
        return self.cpu_s > self.cpu_bound_s

    @property
    def over_wakeups(self) -> bool:
        return self.wakeups is not None and self.wakeups > (QUIET_WAKEUPS_PER_S * self.seconds
                                                            + WAKEUPS_PER_CANARY * self.canary)

    def describe(self) -> str:
        rate = "? wakeups/s" if self.wakeups_per_s is None else f"{self.wakeups_per_s:.0f} wakeups/s"
        moved = "bytes unknown" if self.moved is None else f"{self.moved} bytes"
        canary = f", {self.canary} canary requests" if self.canary else ""
        return (f"at {self.start:.2f}-{self.start + self.seconds:.2f} s: {self.share:.0%} of a core, {rate}, "
                f"{moved}{canary}")


@dataclass(frozen=True)
class Stretch:
    """Consecutive quiet intervals over one bound."""

    intervals: tuple[Interval, ...]
    rule: str  # "share" or "wakeups"

    @property
    def seconds(self) -> float:
        return sum(i.seconds for i in self.intervals)

    @property
    def cpu_s(self) -> float:
        return sum(i.cpu_s for i in self.intervals)

    @property
    def excess_cpu_s(self) -> float:
        return sum(i.cpu_s - i.cpu_bound_s for i in self.intervals)

    @property
    def share(self) -> float:
        return self.cpu_s / self.seconds

    @property
    def worst(self) -> Interval:
        if self.rule == "wakeups":
            return max(self.intervals, key=lambda i: i.wakeups_per_s or 0.0)
        return max(self.intervals, key=lambda i: i.share)

    @property
    def spin(self) -> bool:
        if self.seconds < SUSTAINED_S or len(self.intervals) < SUSTAINED_INTERVALS:
            return False
        return self.rule == "wakeups" or self.excess_cpu_s >= BURST_CPU_S

    def describe(self) -> str:
        first = self.intervals[0]
        if self.rule == "wakeups":
            rate = sum(i.wakeups or 0 for i in self.intervals) / self.seconds
            what = (f"{rate:.0f} wakeups/s (bound {QUIET_WAKEUPS_PER_S:.0f}/s: a timer wheel makes 100, "
                    "a 1 ms poll 1000)")
        else:
            what = f"{self.share:.0%} of a core, {self.excess_cpu_s:.2f} s of CPU over the {QUIET_SHARE:.0%} bound"
        return (f"at {first.start:.2f}-{first.start + self.seconds:.2f} s ({self.seconds:.2f} s with no client "
                f"traffic): {what}; worst interval {self.worst.describe()}")

    @staticmethod
    def rule_text(rule: str) -> str:
        if rule == "wakeups":
            return f"a spin: over the wakeup bound for {SUSTAINED_S:g} s or more"
        return (f"a spin: over the share bound for {SUSTAINED_S:g} s or more with {BURST_CPU_S:g} s of CPU or more "
                "beyond it; a housekeeping burst is shorter")


@dataclass(frozen=True)
class Budget:
    cpu_s: float
    seconds: float
    requests: int
    connections: int
    mib: float | None  # None: bytes unknown (no allowance for them)

    @property
    def allowed_s(self) -> float:
        return (QUIET_SHARE * self.seconds + BURST_CPU_S + CPU_S_PER_REQUEST * self.requests
                + CPU_S_PER_CONNECTION * self.connections + CPU_S_PER_MIB * (self.mib or 0.0))

    @property
    def over(self) -> bool:
        return self.cpu_s > self.allowed_s

    def describe(self) -> str:
        moved = "bytes unknown" if self.mib is None else f"{self.mib:.1f} MiB"
        return (f"{self.cpu_s:.2f} s of CPU over {self.seconds:.1f} s, {self.cpu_s / self.allowed_s:.0%} of a "
                f"budget of {self.allowed_s:.2f} s ({QUIET_SHARE:.0%} of a core + {BURST_CPU_S:g} s + "
                f"{CPU_S_PER_REQUEST * 1000:g} ms × {self.requests} requests + {CPU_S_PER_CONNECTION * 1000:g} ms "
                f"× {self.connections} connections + {CPU_S_PER_MIB:g} s × {moved})")


@dataclass(frozen=True)
class StreamJudgement:
    intervals: tuple[Interval, ...]
    spins: tuple[Stretch, ...]  # sustained quiet stretches over a bound, worst first
    worst_quiet: Stretch | None  # the quiet stretch with the most CPU over the bound (for the pass message)
    budget: Budget
    quiet_known: bool  # bytes could be read: quiet time was judged


def stream(history: CaseHistory) -> list[Snapshot]:
    """Every reading the history holds from the baseline on, in time order: the samples, and the readings the
    windows and the settle wait kept (the same stream's readings)."""
    readings = [history.baseline, *history.samples]
    if history.settled is not None:
        readings.append(history.settled)
    for window in (history.held_cpu, history.idle_cpu):
        if window is not None:
            readings += [window.start, window.end]
    by_time = {reading.t: reading for reading in readings if reading.t >= history.baseline.t}
    return [by_time[t] for t in sorted(by_time)]


def cpu_share_between(readings: Sequence[Snapshot], start: float, end: float) -> float | None:
    """The target's CPU, in cores, between the readings that bracket [start, end] (probe clock); None when the
    stream does not cover it."""
    before = next((reading for reading in reversed(readings) if reading.t <= start), None)
    after = next((reading for reading in readings if reading.t >= end), None)
    if before is None or after is None or after.t <= before.t:
        return None
    return max(0.0, after.cpu_seconds - before.cpu_seconds) / (after.t - before.t)


def stream_problem(history: CaseHistory, readings: Sequence[Snapshot], *, ends_with_case: bool,
                   max_gap_s: float = MAX_GAP_S) -> str | None:
    """Why the stream cannot be judged (too short, a gap, ended before the case did); None when it can.

    A stream that dies mid-case shows as a gap: the settle wait's reading is then a one-off snapshot taken
    the slow way, long after the stream's last; or as no reading after the case at all."""
    origin = history.started if history.started is not None else history.baseline.t
    if len(readings) < MIN_INTERVALS + 1:
        return f"only {len(readings)} readings of the target's CPU from the baseline on (need {MIN_INTERVALS + 1})"
    for before, after in pairwise(readings):
        if after.t - before.t > max_gap_s:
            return (f"the probe stream has a gap from {before.t - origin:.1f} s to {after.t - origin:.1f} s "
                    f"(over {max_gap_s:g} s: CPU in it is unjudged)")
    if ends_with_case and history.settled is None:
        return f"the probe stream ended at t={readings[-1].t - origin:.1f} s, with no reading after the case"
    return None


def intervals(history: CaseHistory, readings: Sequence[Snapshot]) -> tuple[Interval, ...]:
    origin = history.started if history.started is not None else history.baseline.t
    canary = sorted(sample.t for sample in history.canary)
    result = []
    for before, after in pairwise(readings):
        seconds = after.t - before.t
        if seconds <= 0:
            continue
        result.append(Interval(
            start=before.t - origin, seconds=seconds, cpu_s=max(0.0, after.cpu_seconds - before.cpu_seconds),
            moved=_moved(before, after), wakeups=_delta(before.wakeups, after.wakeups),
            canary=sum(1 for t in canary if before.t < t <= after.t)))
    return tuple(result)


def stretches(spans: Iterable[Interval], rule: str) -> list[Stretch]:
    """Maximal runs of consecutive quiet intervals over the rule's bound."""
    def over(interval: Interval) -> bool:
        return interval.over_wakeups if rule == "wakeups" else interval.over_share

    runs: list[Stretch] = []
    run: list[Interval] = []
    for interval in [*spans, None]:
        if interval is not None and interval.quiet and over(interval):
            run.append(interval)
        elif run:
            runs.append(Stretch(tuple(run), rule))
            run = []
    return runs


def watch_after_case_until(history: CaseHistory, readings: Sequence[Snapshot], since: float,
                           step: float) -> float | None:
    """When the runner must stop reading after the case: None when every quiet interval from `since` (the clients
    done) is within the bounds, else a time at least SUSTAINED_S and a reading past the first one over a bound. The
    window after a case is shorter than SUSTAINED_S, so alone it could never show a spin that outlives the case, and
    during a case the canary's allowance can mask one; a clean target pays nothing for this."""
    after = [reading for reading in readings if reading.t >= since]
    first = next((interval for interval in intervals(history, after)
                  if interval.quiet and (interval.over_share or interval.over_wakeups)), None)
    if first is None:
        return None
    origin = history.started if history.started is not None else history.baseline.t
    return origin + first.start + SUSTAINED_S + step


def judge_stream(history: CaseHistory, readings: Sequence[Snapshot]) -> StreamJudgement:
    spans = intervals(history, readings)
    quiet_known = bool(spans) and all(i.quiet is not None for i in spans)
    by_share = stretches(spans, "share") if quiet_known else []
    by_wakeups = stretches(spans, "wakeups") if quiet_known else []
    spins = sorted((s for s in [*by_share, *by_wakeups] if s.spin), key=lambda s: -s.excess_cpu_s)
    worst_quiet = max(by_share, key=lambda s: s.excess_cpu_s, default=None)
    moved = [i.moved for i in spans]
    mib = None if any(m is None for m in moved) else sum(m or 0 for m in moved) / MiB
    budget = Budget(cpu_s=sum(i.cpu_s for i in spans), seconds=sum(i.seconds for i in spans),
                    requests=_requests(history), connections=_connections(history), mib=mib)
    return StreamJudgement(spans, tuple(spins), worst_quiet, budget, quiet_known)


def _requests(history: CaseHistory) -> int:
    return len(history.canary) + sum(len(c.responses) for outcome in history.clients for c in outcome.connections())


def _connections(history: CaseHistory) -> int:
    """Connections the clients made (their declared count where a run left no result), and the canary's."""
    made = sum(len(outcome.connections()) if outcome.result else outcome.run.connections for outcome in history.clients)
    return made + sum(1 for sample in history.canary if not sample.keep_alive)


def _moved(before: Snapshot, after: Snapshot) -> int | None:
    """Bytes on the network interfaces where both readings have them, else bytes read and written; plus the input
    the target drained from its receive queues. A client's body can arrive whole into the kernel's buffers (7 MB
    fit) and then be read and parsed for seconds with nothing on the wire: that is work, not a quiet loop."""
    drained = max(0, before.rx_queued - after.rx_queued) if before.rx_queued >= 0 and after.rx_queued >= 0 else 0
    for first, last in ((before.net_bytes, after.net_bytes), (before.io_bytes, after.io_bytes)):
        if first >= 0 and last >= 0:
            return max(0, last - first) + drained
    return None


def _delta(first: int, last: int) -> int | None:
    return None if first < 0 or last < 0 else max(0, last - first)
