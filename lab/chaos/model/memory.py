"""What memory_growth judges, as pure functions of (scenario, history): the case's peak RSS, the responses a
correct server may hold, and the growth between rounds of the same connection storm."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lab.chaos.model.history import CaseHistory
from lab.chaos.model.scenario import ClientRun, Scenario
from lab.probe import Snapshot

MiB = 1 << 20
_BYTES_PATH = re.compile(r"^/bytes/(\d+)(?:\?.*)?$")
_EXPECTED_LENGTH = re.compile(r"^(\d+):[0-9a-f]{64}$")
# Behaviours that post their body to /echo by themselves (no `path` attribute): the response is the body.
_ECHOING = frozenset({"fragmented", "slow_body"})
# malformed variants whose size_bytes is the size of the response (a /bytes/N query, an echoed chunked body);
# in the others (huge_header, body_after_error...) it is what the client sends, which a server need not hold.
_MALFORMED_RESPONSE_SIZE = frozenset({"query_string", "tiny_chunks"})


@dataclass(frozen=True)
class Peak:
    bytes: int  # the highest RSS of the case, as growth from the reference's RSS
    source: str  # how it was read, for the message
    reference: Snapshot  # what growth is judged from: the baseline, or the reading after the warm-up rounds


def _readings(history: CaseHistory, since: float | None = None) -> list[Snapshot]:
    readings = [*history.samples, *([history.settled] if history.settled is not None else [])]
    return readings if since is None else [reading for reading in readings if reading.t > since]


def case_peak(history: CaseHistory, reference: Snapshot | None = None) -> Peak | None:
    """The case's peak RSS after `reference` (default: the baseline): from the rise of VmHWM, else sampled RSS.

    VmHWM is each process's peak since it started (or since the probe reset it), and the probe sums it over the
    target's processes. Its rise from the reference's own sum was set after the reference, and is exact even for
    a peak that lasted less than the 0.25 s between readings. The rise is measured from the reference's mark, not
    its RSS: a process that freed memory after the reset keeps a mark above its RSS, and the sum carries that gap
    into any later rise of another process's mark (gunicorn's workers: +15 MiB, none of it the case's).
    """
    reference = history.baseline if reference is None else reference
    whose = "the baseline's" if reference is history.baseline else "the warm-up rounds' reading's"
    readings = _readings(history, since=None if reference is history.baseline else reference.t)
    if not readings:
        return None
    sampled = max(reading.rss_bytes for reading in readings)
    sampled_growth = sampled - reference.rss_bytes
    high_water = max(reading.rss_peak_bytes for reading in readings)
    before = reference.rss_peak_bytes
    if before <= 0 or high_water <= 0:
        return Peak(sampled, "sampled RSS, 4 readings a second (the probe gives no VmHWM)", reference)
    mark_growth = high_water - before
    if mark_growth > 0 and mark_growth >= sampled_growth:
        gap = before - reference.rss_bytes
        also = (f"; {whose} mark was {gap / MiB:.1f} MiB above its RSS (memory freed since the reset), "
                "which is not counted") if gap >= MiB else ""
        return Peak(reference.rss_bytes + mark_growth, f"VmHWM, risen during the case{also}", reference)
    if mark_growth > 0:
        return Peak(sampled, "sampled RSS, above the rise of VmHWM", reference)
    return Peak(sampled, f"sampled RSS: VmHWM stayed at {whose} {before / MiB:.1f} MiB, "
                         "a peak from before the case", reference)


def largest_response_bytes(run: ClientRun) -> int:
    """The largest response one connection of `run` asks for, from its plan (0: none larger than a few bytes)."""
    attributes = run.resolved_attributes()
    sizes = [0]
    if "response_bytes" in attributes:
        sizes.append(int(str(attributes["response_bytes"])))
    path = str(attributes.get("path", ""))
    if found := _BYTES_PATH.match(path):
        sizes.append(int(found.group(1)))
    if path == "/echo" or run.behaviour in _ECHOING:
        sizes.append(int(str(attributes.get("body_bytes", 0))))
    if found := _EXPECTED_LENGTH.match(str(attributes.get("expect_body", ""))):
        sizes.append(int(found.group(1)))  # a profile's large route: its declared length
    if run.behaviour == "malformed" and attributes.get("variant") in _MALFORMED_RESPONSE_SIZE:
        sizes.append(int(str(attributes.get("size_bytes", 0))))
    return max(sizes)


def response_allowance(scenario: Scenario, held: int) -> tuple[int, str]:
    """Bytes for one whole response per connection in flight, and how they add up ("" when none).

    Most servers build a response whole before sending it: holding one per connection is no defect, holding
    more (parsing on while output waits: no backpressure) is. A run had at least one connection in flight even
    when no 0.25 s reading caught it, and never more than it opened or the target held at the peak.
    """
    total, parts = 0, []
    for run in scenario.clients:
        size = largest_response_bytes(run)
        in_flight = min(run.connections, max(held, 1))
        if size:
            total += size * in_flight
            parts.append(f"{in_flight} × {_size_text(size)} ({run.behaviour})")
    return total, " + ".join(parts)


@dataclass(frozen=True)
class RoundGrowth:
    ok: bool
    message: str
    missing: bool = False  # a reading after some round is absent: the case is an error


def _judged_rounds(scenario: Scenario, readings: list[Snapshot]) -> list[Snapshot]:
    """The readings growth is judged over: the last `scenario.rounds` of them (round 1 when no more were played,
    which warms the allocator up and is judged by its growth from the baseline alone)."""
    return readings[-scenario.rounds:]


def _round_growth_ok(scenario: Scenario, readings: list[Snapshot]) -> tuple[bool, int, int]:
    """Whether the judged rounds grew within the allowance, their growth and the connections they made."""
    judged = _judged_rounds(scenario, readings)
    connections = sum(run.connections for run in scenario.clients) * (len(judged) - 1)
    growth = judged[-1].rss_bytes - judged[0].rss_bytes
    return growth <= scenario.limits.rss_per_gone_connection_bytes * connections, growth, connections


def warmed_up(scenario: Scenario, history: CaseHistory) -> Snapshot | None:
    """In a case played in rounds, the reading the judged rounds start from: the heap sized to the storm by the
    rounds before it (None: not such a case, or no round read). The later rounds' peak is judged from here."""
    if scenario.rounds < 3 or not history.rounds:
        return None
    return _judged_rounds(scenario, history.rounds)[0]


def more_rounds_needed(scenario: Scenario, readings: list[Snapshot], played: int) -> bool:
    """After `played` rounds, one more: the judged rounds still grow and Scenario.max_rounds allows it (a reading
    that is missing ends the rounds; round_growth says so)."""
    if scenario.rounds < 3 or played < scenario.rounds or played >= scenario.max_rounds or len(readings) < played:
        return False
    return not _round_growth_ok(scenario, readings)[0]


def round_growth(scenario: Scenario, history: CaseHistory) -> RoundGrowth | None:
    """Growth of the settled RSS between the later rounds of a case played in rounds; None: not such a case.

    The first round warms the allocator up (arenas, free lists, the connection table at its concurrency) and is
    not judged: the growth from the reading after it to the reading after the last is spread over the later
    rounds' connections, and a server keeps nothing of a connection that is gone. While that growth is over its
    allowance, more rounds are played (Scenario.max_rounds) and the last `rounds` of them judged: a collected heap
    that was still sizing itself up stops growing, a leak does not.
    """
    if scenario.rounds < 3:
        return None
    readings = history.rounds
    played = max(scenario.rounds, len(history.clients) // max(1, len(scenario.clients)))
    rss = " → ".join(f"{reading.rss_bytes / MiB:.2f}" for reading in readings)
    if len(readings) < played:
        return RoundGrowth(False, f"RSS was read after {len(readings)} of {played} rounds "
                                  f"({rss or 'none'} MiB)", missing=True)
    ok, growth, judged = _round_growth_ok(scenario, readings)
    first, last = len(readings) - len(_judged_rounds(scenario, readings)) + 2, len(readings)
    per_round = sum(run.connections for run in scenario.clients)
    allowed = scenario.limits.rss_per_gone_connection_bytes * judged
    more = (f"; rounds 2-{scenario.rounds} grew past that, so {len(readings) - scenario.rounds} more were played"
            if len(readings) > scenario.rounds else "")
    message = (f"RSS after each of {len(readings)} rounds of {per_round} connections: {rss} MiB; "
               f"{growth / 1024:+.0f} KiB over rounds {first}-{last} ({growth / judged:+.0f} bytes per "
               f"connection; at most {scenario.limits.rss_per_gone_connection_bytes} bytes each, "
               f"{allowed / 1024:.0f} KiB; round 1 warms the allocator up and is not judged{more})")
    return RoundGrowth(ok, message)


def _size_text(size: int) -> str:
    return f"{size / MiB:.3g} MiB" if size >= MiB else f"{size / 1024:.3g} KiB" if size >= 1024 else f"{size} B"
