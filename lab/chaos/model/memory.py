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
    bytes: int  # the highest RSS of the case
    source: str  # how it was read, for the message


def _readings(history: CaseHistory) -> list[Snapshot]:
    return [*history.samples, *([history.settled] if history.settled is not None else [])]


def case_peak(history: CaseHistory) -> Peak | None:
    """The case's peak RSS: from VmHWM when the high-water mark rose after the baseline, else the sampled RSS.

    VmHWM is the process's peak since it started (or since the probe reset it): a mark above the baseline's was
    set during the case, and is its exact peak, even one that lasted less than the 0.25 s between readings. A
    mark that did not rise says the case's peak was below an earlier one, not where: then the readings say it.
    """
    readings = _readings(history)
    if not readings:
        return None
    sampled = max(reading.rss_bytes for reading in readings)
    high_water = max(reading.rss_peak_bytes for reading in readings)
    before = history.baseline.rss_peak_bytes
    if before <= 0 or high_water <= 0:
        return Peak(sampled, "sampled RSS, 4 readings a second (the probe gives no VmHWM)")
    if high_water > before:
        return Peak(max(sampled, high_water), "VmHWM, risen during the case")
    return Peak(sampled, f"sampled RSS: VmHWM stayed at the baseline's {before / MiB:.1f} MiB, "
                         "a peak from before the case")


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


def round_growth(scenario: Scenario, history: CaseHistory) -> RoundGrowth | None:
    """Growth of the settled RSS between the later rounds of a case played in rounds; None: not such a case.

    The first round warms the allocator up (arenas, free lists, the connection table at its concurrency) and is
    not judged: the growth from the reading after it to the reading after the last is spread over the later
    rounds' connections, and a server keeps nothing of a connection that is gone.
    """
    if scenario.rounds < 3:
        return None
    readings = history.rounds
    rss = " → ".join(f"{reading.rss_bytes / MiB:.2f}" for reading in readings)
    if len(readings) < scenario.rounds:
        return RoundGrowth(False, f"RSS was read after {len(readings)} of {scenario.rounds} rounds "
                                  f"({rss or 'none'} MiB)", missing=True)
    per_round = sum(run.connections for run in scenario.clients)
    judged = per_round * (len(readings) - 1)
    growth = readings[-1].rss_bytes - readings[0].rss_bytes
    allowed = scenario.limits.rss_per_gone_connection_bytes * judged
    message = (f"RSS after each of {len(readings)} rounds of {per_round} connections: {rss} MiB; "
               f"{growth / 1024:+.0f} KiB over rounds 2-{len(readings)} ({growth / judged:+.0f} bytes per "
               f"connection; at most {scenario.limits.rss_per_gone_connection_bytes} bytes each, "
               f"{allowed / 1024:.0f} KiB; round 1 warms the allocator up and is not judged)")
    return RoundGrowth(growth <= allowed, message)


def _size_text(size: int) -> str:
    return f"{size / MiB:.3g} MiB" if size >= MiB else f"{size / 1024:.3g} KiB" if size >= 1024 else f"{size} B"
