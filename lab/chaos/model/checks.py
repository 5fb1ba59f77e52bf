"""Checks: pure functions from (scenario, history) to a verdict. No Docker, no I/O; unit-tested alone.

Every failure message says what was expected, what was seen, and the command that reproduces it.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

from lab.chaos.model import cpu_stream, memory, restarts
from lab.chaos.model.history import CaseHistory
from lab.chaos.model.latency import CanaryClock, HostTime, longest_silence, percentile, unanswered_seconds
from lab.chaos.model.scenario import ERROR_STATUSES, GRACE_S, WITHOUT_DEADLINE, Limits, Scenario, StopTarget
from lab.chaos.model.stream_gaps import case_time, longest_gap, probe_errors, stream_trouble

CHECK_NAMES = ("fd_leak", "close_wait", "stale_connection", "cpu_spin", "memory_growth", "crash",
               "wrong_response", "stall", "slow_canary", "no_timeout")
MiB = 1 << 20


@dataclass(frozen=True)
class Verdict:
    check: str
    ok: bool
    message: str = ""
    applicable: bool = True
    # Data the verdict needs is missing (a reading, a window, a client result): the case is an error, never a pass.
    missing: bool = False

    @property
    def failed(self) -> bool:
        return self.applicable and not self.ok and not self.missing


def missing(check: str, why: str) -> Verdict:
    """A check with nothing to judge says so: the case's outcome becomes `error` (unless another check failed)."""
    return Verdict(check, ok=False, message=why, missing=True)


def outcome(verdicts: list[Verdict]) -> str:
    """"fail" when a check failed, else "error" when one had no data to judge, else "pass"."""
    if any(v.failed for v in verdicts):
        return "fail"
    return "error" if any(v.missing for v in verdicts) else "pass"


def _na(check: str, why: str) -> Verdict:
    return Verdict(check, ok=True, message=why, applicable=False)


def _what_ran(scenario: Scenario) -> str:
    return "; ".join(client.describe() for client in scenario.clients)


def _fail(check: str, history: CaseHistory, text: str) -> Verdict:
    evidence = f" [{history.evidence.note(check)}]" if history.evidence else ""
    return Verdict(check, ok=False, message=f"{text}{evidence} [reproduce: {history.repro}]")


def target_stopped(scenario: Scenario, history: CaseHistory) -> bool:
    """The case stopped the target, or it exited: nothing is left to settle or read (crash judges it)."""
    after = history.target_after
    return scenario.stops_target or (after is not None and not after.running)


def _settled_or_not(check: str, scenario: Scenario, history: CaseHistory) -> Verdict | None:
    """n/a when the target stopped; missing when it ran on but no reading after the case came."""
    if history.settled is not None:
        return None
    if target_stopped(scenario, history):
        return _na(check, "the target could not be observed after the case (see crash)")
    return missing(check, f"no reading of the target after the case: {stream_trouble(history)}")


def fd_leak(scenario: Scenario, history: CaseHistory) -> Verdict:
    if (unjudged := _settled_or_not("fd_leak", scenario, history)) is not None:
        return unjudged
    assert history.settled is not None
    before, after = history.baseline.fds, history.settled.fds
    if after <= before:
        return Verdict("fd_leak", ok=True, message=f"fd count {before} → {after}")
    sockets_before = history.baseline.fd_kinds.get("socket")
    sockets_after = history.settled.fd_kinds.get("socket")
    if (scenario.limits.settle_s < Limits().settle_s and sockets_before is not None and sockets_after is not None
            and sockets_after <= sockets_before):
        # The prompt bound is for the connections: a socket closed on the peer's FIN. A file a server keeps open
        # after serving it (lighttpd's stat cache, for seconds) is no connection left behind; files are judged
        # against the default bound in the cases that wait for it.
        kinds = ", ".join(f"{kind} {history.baseline.fd_kinds.get(kind, 0)} → {count}"
                          for kind, count in sorted(history.settled.fd_kinds.items())
                          if count != history.baseline.fd_kinds.get(kind, 0))
        return Verdict("fd_leak", ok=True, message=f"fd count {before} → {after}: sockets back to {sockets_after} "
                                                   f"within {scenario.limits.settle_s:g} s; not sockets: {kinds}")
    return _fail("fd_leak", history,
                 f"fd count {before} → {after} after {_what_ran(scenario)}, still {after - before} over the "
                 f"baseline {history.settle_elapsed_s:.1f} s later (expected back to {before} within "
                 f"{scenario.limits.settle_s:g} s); sockets by state: {_states(history)}")


def close_wait(scenario: Scenario, history: CaseHistory) -> Verdict:
    if (unjudged := _settled_or_not("close_wait", scenario, history)) is not None:
        return unjudged
    assert history.settled is not None
    stuck = history.settled.sockets("CLOSE_WAIT") - history.baseline.sockets("CLOSE_WAIT")
    if stuck <= 0:
        return Verdict("close_wait", ok=True)
    return _fail("close_wait", history,
                 f"{stuck} sockets in CLOSE_WAIT {history.settle_elapsed_s:.1f} s after {_what_ran(scenario)} "
                 "(expected 0: the peer closed and the server never closed its side)")


def stale_connection(scenario: Scenario, history: CaseHistory) -> Verdict:
    if (unjudged := _settled_or_not("stale_connection", scenario, history)) is not None:
        return unjudged
    assert history.settled is not None
    stale = history.settled.sockets("ESTABLISHED") - history.baseline.sockets("ESTABLISHED")
    if stale <= 0 and "stats" in scenario.requires:
        return _registry_forgets(scenario, history)
    if stale <= 0:
        return Verdict("stale_connection", ok=True)
    return _fail("stale_connection", history,
                 f"{stale} ESTABLISHED sockets left {history.settle_elapsed_s:.1f} s after the clients of "
                 f"{_what_ran(scenario)} were gone (expected none: the server must drop peers that vanish, "
                 f"at the latest by its timeouts)")


def _registry_forgets(scenario: Scenario, history: CaseHistory) -> Verdict:
    """The server's own registry of live connections (its stats) must forget the clients too."""
    before, after = history.stats_before, history.stats_after
    if before is None or after is None:
        return _fail("stale_connection", history, "the target's /__lab/stats could not be read before and after "
                                                  "the case")
    held = int(after["open_connections"]) - int(before["open_connections"])
    if held <= 0:
        return Verdict("stale_connection", ok=True, message=f"stats: closed {after.get('closed')}")
    return _fail("stale_connection", history,
                 f"the server's registry still holds {held} connections after {_what_ran(scenario)} "
                 f"(/__lab/stats open_connections {before['open_connections']} → {after['open_connections']}; "
                 "its sockets are closed but the connections were never forgotten)")


def cpu_spin(scenario: Scenario, history: CaseHistory) -> Verdict:
    """CPU over the whole case, every interval of the probe's stream (lab.chaos.model.cpu_stream): no sustained CPU or
    wakeups while no client traffic flows, and the whole case within a budget per request and per MiB moved."""
    readings = cpu_stream.stream(history)
    # A target that stops (a StopTarget case, or a crash: see crash) takes the probe's stream with it.
    problem = cpu_stream.stream_problem(history, readings, ends_with_case=not target_stopped(scenario, history),
                                        max_gap_s=scenario.limits.max_reading_gap_s)
    if problem is not None and scenario.stops_target and len(readings) < cpu_stream.MIN_INTERVALS + 1:
        # The case's own stop ended the target (a server that writes and exits at once goes in ~0.1 s): no data is
        # missing, there was too little time to judge. A gap, or a crash, is still missing data.
        return _na("cpu_spin", f"the case stopped the target before the stream could judge it: {problem}")
    if problem is not None:
        return missing("cpu_spin", f"the target's CPU cannot be judged: {problem}")
    judged = cpu_stream.judge_stream(history, readings)
    budget = judged.budget
    notes = [] if judged.quiet_known else ["bytes moved unreadable: quiet time not judged, the whole-case budget only"]
    notes += _cpu_windows_text(scenario, history)
    also = f"; {'; '.join(notes)}" if notes else ""
    if judged.spins:
        spin = judged.spins[0]
        more = f" (and {len(judged.spins) - 1} more such stretches)" if len(judged.spins) > 1 else ""
        return _fail("cpu_spin", history,
                     f"target {'woke' if spin.rule == 'wakeups' else 'spun'} with no client traffic "
                     f"{spin.describe()}{more} ({cpu_stream.Stretch.rule_text(spin.rule)}), during "
                     f"{_what_ran(scenario)} (expected an event loop with nothing to do to sleep in epoll_wait); "
                     f"whole case: {budget.describe()}{also}")
    replaced = restarts.replacements(history)
    if budget.over and replaced:
        # A respawned worker's start-up (an interpreter, its imports) is work the budget per request does not
        # count; the stretches with no traffic are still judged above, and the replacement is crash's finding.
        notes.append(f"whole-case budget not judged: {budget.describe()}, but a process was replaced "
                     f"({replaced[0].describe()}) and its start-up is not the case's work (see crash)")
        also = f"; {'; '.join(notes)}"
    elif budget.over:
        busiest = max(judged.intervals, key=lambda interval: interval.share)
        return _fail("cpu_spin", history,
                     f"target used more CPU than the case's work explains: {budget.describe()}, during "
                     f"{_what_ran(scenario)}; busiest interval {busiest.describe()}{also}")
    worst = judged.worst_quiet
    quiet = "no quiet interval over the share bound" if worst is None else f"worst quiet stretch {worst.describe()}"
    return Verdict("cpu_spin", ok=True, message=f"{quiet}; whole case: {budget.describe()}{also}")


def _cpu_windows_text(scenario: Scenario, history: CaseHistory) -> list[str]:
    """The idle and held windows' shares: evidence beside the stream's verdict."""
    texts = []
    if history.idle_cpu is not None:
        texts.append(f"{history.idle_cpu.cpu_share:.1%} of a core over {history.idle_cpu.seconds:.1f} s "
                     "after the case")
    if history.held_cpu is not None:
        held = history.held_cpu.start.sockets("ESTABLISHED")
        texts.append(f"{history.held_cpu.cpu_share:.1%} of a core over {history.held_cpu.seconds:.1f} s while "
                     f"{held} connections were held")
    elif scenario.held_cpu is not None:
        texts.append(f"no window while held: {history.held_error or 'not measured'}")
    return texts


def peak_held_connections(history: CaseHistory) -> int:
    """The most ESTABLISHED sockets the probe saw over the baseline during the case."""
    seen = [sample.sockets("ESTABLISHED") for sample in history.samples]
    if history.held_cpu is not None:
        seen += [history.held_cpu.start.sockets("ESTABLISHED"), history.held_cpu.end.sockets("ESTABLISHED")]
    return max([0, *seen]) - history.baseline.sockets("ESTABLISHED")


def memory_growth(scenario: Scenario, history: CaseHistory) -> Verdict:
    """The case's peak RSS within a constant, a per-connection allowance and one response per connection in
    flight; in a case played in rounds, no growth between the later rounds either."""
    # In rounds of one storm, the first ones warm the heap up (a collected runtime sizes its heap to the storm):
    # the judged rounds' peak is judged from the reading before them, and their growth by round_growth.
    warm_up = memory.warmed_up(scenario, history)
    peak = memory.case_peak(history, warm_up)
    if peak is None:
        return missing("memory_growth", "no reading of the target's memory during the case")
    if replaced := restarts.replacements(history):
        # RSS is summed over the target's processes: a new worker's whole heap (and, while both lived, the old
        # one's) would read as growth. The replacement is crash's finding, or the profile's design.
        return _na("memory_growth", f"a process was replaced during the case ({replaced[0].describe()}): the "
                                    "summed RSS compares different processes (see crash)")
    growth = peak.bytes - peak.reference.rss_bytes
    since = "" if warm_up is None else " after the warm-up rounds"
    held = max(0, peak_held_connections(history))
    limits = scenario.limits
    responses, responses_text = memory.response_allowance(scenario, held)
    limit = limits.max_rss_growth(held) + responses
    response_rule = f" + one response per connection in flight: {responses_text}" if responses_text else ""
    rule = (f"{limits.max_rss_growth_bytes / MiB:g} MiB + {limits.rss_per_connection_bytes / 1024:g} KiB × "
            f"{held} connections held at the peak{response_rule} = {limit / MiB:.1f} MiB")
    per_connection = f", {growth / held / 1024:.1f} KiB per held connection" if held else ""
    rounds = memory.round_growth(scenario, history)
    if growth > limit:
        also = f"; also {rounds.message}" if rounds is not None else ""
        return _fail("memory_growth", history,
                     f"RSS grew{since} {peak.reference.rss_bytes / MiB:.0f} → {peak.bytes / MiB:.0f} MiB "
                     f"(+{growth / MiB:.1f} MiB{per_connection}, peak from {peak.source}; expected at most {rule}) "
                     f"during {_what_ran(scenario)}{also}")
    peak_text = f"peak RSS growth{since} {growth / MiB:.1f} MiB{per_connection} (from {peak.source}; limit {rule})"
    if rounds is not None and rounds.missing:
        return missing("memory_growth", f"{rounds.message}; {peak_text}")
    if rounds is not None and not rounds.ok:
        return _fail("memory_growth", history,
                     f"memory grows with every connection: {rounds.message} during {_what_ran(scenario)}")
    return Verdict("memory_growth", ok=True,
                   message=peak_text + (f"; {rounds.message}" if rounds is not None else ""))


def crash(scenario: Scenario, history: CaseHistory) -> Verdict:
    after = history.target_after
    if after is None:
        return _fail("crash", history, "the target container could not be inspected after the case")
    if isinstance(scenario.fault, StopTarget):
        deadline = scenario.fault.deadline_s
        took = history.stop_elapsed_s
        if after.running or after.exit_code != 0 or took is None or took > deadline:
            return _fail("crash", history,
                         f"`docker stop` (SIGTERM) expected a graceful exit 0 within {deadline:g} s; saw exit "
                         f"code {after.exit_code}, running={after.running}, after "
                         f"{'?' if took is None else f'{took:.1f}'} s")
        return Verdict("crash", ok=True, message=f"exit 0 after SIGTERM in {took:.1f} s")
    if not after.running:
        detail = " (OOM-killed)" if after.oom_killed else ""
        return _fail("crash", history, f"the target exited with code {after.exit_code}{detail} during "
                                       f"{_what_ran(scenario)} (expected it to stay up)")
    if after.started_at != history.target_before.started_at:
        return _fail("crash", history, f"the target restarted during {_what_ran(scenario)} "
                                       f"(started {history.target_before.started_at}, now {after.started_at})")
    if (replaced := restarts.replacements(history)) and scenario.replaces_workers:
        return Verdict("crash", ok=True, message=f"{len(replaced)} worker process(es) replaced, by design: "
                                                 f"{scenario.replaces_workers} ({replaced[0].describe()})")
    if replaced:
        more = f" (and {len(replaced) - 1} more)" if len(replaced) > 1 else ""
        return _fail("crash", history, f"a process of the target was replaced during {_what_ran(scenario)}: "
                                       f"{replaced[0].describe()}{more} (expected the processes serving before "
                                       "the case to serve through it: a worker that dies and is respawned drops "
                                       "its connections)")
    return Verdict("crash", ok=True)


def wrong_response(scenario: Scenario, history: CaseHistory) -> Verdict:
    """Every response judged: its status, its body byte for byte where the answer is known, its framing."""
    problems: list[str] = []
    judged = 0
    for outcome in history.clients:
        allowed = outcome.run.expect.statuses
        for connection in outcome.connections():
            variant = dict(outcome.run.attributes).get("variant")  # which of a case's probes, where it has several
            where = f"{outcome.run.behaviour}{f' {variant}' if variant else ''} #{connection.index}"
            # A case that allows any status (a fault may cut the stream anywhere) does not judge framing.
            if connection.protocol_error is not None and allowed is not None:
                problems.append(f"{where}: bytes that are not a valid HTTP response ({connection.protocol_error}) "
                                f"after {len(connection.responses)} responses")
            owed = outcome.run.expect.responses
            if outcome.run.expect.exact and owed is not None and len(connection.responses) > owed:
                extra = connection.responses[owed]
                problems.append(f"{where}: {len(connection.responses)} responses where {owed} is owed (response "
                                f"{owed + 1}: status {extra.status}): the rest of the message read as a request")
            for number, response in enumerate(connection.responses, 1):
                judged += 1
                if allowed is not None and response.status not in allowed:
                    problems.append(f"{where} response {number}: status {response.status}, "
                                    f"expected {_statuses(allowed)}")
                elif response.wrong_body:
                    problems.append(f"{where} response {number}: body of {response.body_len} bytes differs "
                                    "from what was expected byte for byte")
    unreported = _unreported(scenario, history)
    if problems:
        return _fail("wrong_response", history, _first(problems) + _also(unreported))
    if unreported:
        return missing("wrong_response", _first(unreported))
    return Verdict("wrong_response", ok=True, message=f"{judged} responses judged")


def stall(scenario: Scenario, history: CaseHistory) -> Verdict:
    """Every response the clients' plans ask for arrives whole, on every connection."""
    unreported = _unreported(scenario, history)  # clients without a result: missing data, unless a check failed
    problems: list[str] = []
    counts: list[str] = []
    for outcome in history.clients:
        if outcome.result is None:  # nothing to count: _unreported says whether that is missing data
            continue
        want, statuses = outcome.run.must_get(), outcome.run.expect.statuses
        counts.append(outcome.counts_text())
        if len(outcome.connections()) < outcome.run.connections:
            problems.append(f"{outcome.run.behaviour}: {len(outcome.connections())} of {outcome.run.connections} "
                            "connections reported")
        for connection in outcome.connections():
            good = connection.complete_responses(statuses)
            if good < want:
                problems.append(
                    f"{outcome.run.behaviour} #{connection.index}: {good} of {want} responses complete "
                    f"after {connection.elapsed_s:.1f} s (closed by {connection.closed_by}"
                    f"{', ' + connection.error if connection.error else ''})")
    after = history.target_after
    if history.after_request_error is not None and (after is None or after.running):
        # A target that exited is crash's finding: whether it was still up for this GET is a race.
        problems.append(f"a fresh request after the case failed: {history.after_request_error}")
    if not problems:
        return missing("stall", _first(unreported)) if unreported else Verdict("stall", ok=True,
                                                                              message="; ".join(counts))
    return _fail("stall", history, _first(problems) + (f" — {'; '.join(counts)}" if counts else "") + _also(unreported))


CANARY_LATE_S = 0.1  # a canary request sent this long after it was due: named in slow_canary's message
# A kept-alive request whose connection the server closed as it arrived is retried (RFC 9112 9.3.1): a race now
# and then (httpd's event MPM closes idle kept-alive connections under load: 1 of 1,025 on the board), a broken
# keep-alive when it is the rule.
CANARY_RETRIES_ALLOWED = 2
CANARY_RETRIED_SHARE = 0.05
# The p99 of fewer requests than this is one of the two slowest: a single hiccup, judged by the max and silences.
CANARY_P99_MIN_REQUESTS = 200
# Likewise the median of a handful is set by the two or three requests one hiccup of the loaded host delays
# (careful-server close_after_partial_response in `make test`: 5 requests over 0.2 s, p50 64 ms, one sent 100 ms
# late by the canary itself): judged from this many on; the max, silence and unanswered bounds judge the rest.
CANARY_P50_MIN_REQUESTS = 10
# The host's time (a stall of the canary's own process, the target's threads waiting for a CPU) is the host's only
# while the target was not the one keeping it busy: a target using this much of a core or more across it (the
# probe's readings around it), or unread, keeps it.
HOST_TIME_TARGET_CORES = 0.5


def host_time(history: CaseHistory) -> list[HostTime]:
    """What of the case was the host's: the canary's own stalls (its meter), and in each interval of the probe's
    readings the longest one of the target's threads waited, runnable, for a CPU; either only where the target used
    under HOST_TIME_TARGET_CORES across it (a target that hogs the host could otherwise hide its own stalls)."""
    readings = cpu_stream.stream(history)
    spans = [HostTime(stall.start, stall.seconds) for stall in history.canary_stalls
             if (cores := cpu_stream.cpu_share_between(readings, stall.start, stall.start + stall.seconds)) is not None
             and cores < HOST_TIME_TARGET_CORES]
    for before, after in pairwise(readings):
        cores = cpu_stream.cpu_share_between(readings, before.t, after.t)
        if after.run_wait_ns > 0 and cores is not None and cores < HOST_TIME_TARGET_CORES:
            seconds = after.t - before.t
            spans.append(HostTime(before.t, seconds, min(1.0, after.run_wait_ns / 1e9 / seconds)))
    return spans


def slow_canary(scenario: Scenario, history: CaseHistory) -> Verdict:
    """Open-loop latency of the canary (lab.chaos.run.canary): every request right, and p50, p99, the slowest one and
    the longest time without an answer within the case's bounds (scenario.Limits)."""
    if not scenario.canary:
        return _na("slow_canary", "no canary in this case")
    samples = history.canary
    if not samples:
        return missing("slow_canary", "the canary recorded no request during the case")
    failed = [s for s in samples if s.latency_s is None]
    limits = scenario.limits
    retried = sum(1 for s in samples if s.retried)
    kept_alive = sum(1 for s in samples if s.keep_alive)
    if retried > max(CANARY_RETRIES_ALLOWED, CANARY_RETRIED_SHARE * kept_alive):
        return _fail("slow_canary", history,
                     f"{retried} of {kept_alive} kept-alive canary requests found their connection closed with no "
                     f"answer and were sent again on a fresh one during {_what_ran(scenario)} (a server may close an "
                     f"idle connection as a request arrives, now and then: at most "
                     f"{max(CANARY_RETRIES_ALLOWED, round(CANARY_RETRIED_SHARE * kept_alive))} here)")
    if failed:
        first = failed[0]
        return _fail("slow_canary", history,
                     f"{len(failed)} of {len(samples)} canary requests failed during {_what_ran(scenario)} "
                     f"(first: {first.error}{' on a kept-alive connection' if first.keep_alive else ''})")
    # A busy host delays the canary without the server: judged on the canary's own clock, without it.
    clock = CanaryClock(host_time(history))
    host_s = clock.host_between(min(s.t for s in samples), max(s.answered or s.t for s in samples))
    samples = clock.samples(samples)
    latencies = [s.latency_s for s in samples if s.latency_s is not None]
    silence = longest_silence(samples)
    # One hiccup within the silence bound is that bound's to judge: open loop, a single stall of S delays every
    # request due in it by S down to 0, so on its own it would also set the p99 of a ~10 s case (~400 requests)
    # from about 0.4 s on, and the p50 of a case of a fraction of a second (a 195 ms hiccup at the start of a
    # 0.3 s case held 8 of its 12 requests: p50 59 ms). The p50 and p99 judge the requests outside it: hiccups
    # that come back still make them (and the unanswered time) fail.
    hiccup_end = silence.start + silence.seconds
    steady = [latency for s in samples if (latency := s.latency_s) is not None
              and not (s.t < hiccup_end and s.t + latency > silence.start)] \
        if silence.seconds <= limits.canary_silence_s else latencies
    p50 = statistics.median(steady) if steady else 0.0
    worst = max(latencies)
    p99 = percentile(steady, 0.99) if steady else 0.0
    unanswered, stalls = unanswered_seconds(samples, limits.canary_stall_s)
    span = max(s.answered or s.t for s in samples) - min(s.t for s in samples)
    unanswered_bound = max(limits.canary_unanswered_s, limits.canary_unanswered_share * span)
    kept = sum(1 for s in samples if s.keep_alive)
    when = f" from {silence.start - clock(history.started):.1f} s" if history.started is not None else ""
    own = f", the host's {host_s * 1000:.0f} ms left out" if host_s >= 0.0005 else ""
    set_aside = f" (both without the {len(latencies) - len(steady)} the longest silence held)" \
        if len(steady) < len(latencies) else ""
    text = (f"canary p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms{set_aside}, max {worst * 1000:.0f} ms, "
            f"longest without an answer {silence.seconds * 1000:.0f} ms{when}, unanswered {unanswered:.1f} s in "
            f"{stalls} stalls of {limits.canary_stall_s * 1000:.0f} ms or more over {span:.1f} s, over "
            f"{len(latencies)} requests ({kept} on kept-alive connections; timed from when each was due{own})")
    p99_judged = len(steady) >= CANARY_P99_MIN_REQUESTS
    p50_judged = len(latencies) >= CANARY_P50_MIN_REQUESTS and bool(steady)
    if not p50_judged:
        text += (f"; p50 not judged under {CANARY_P50_MIN_REQUESTS} requests" if steady
                 else "; p50 not judged: the longest silence held every request")
    over = [f"{name} ≤ {bound * 1000:.0f} ms" for name, seen, bound in (
        ("p50", p50 if p50_judged else 0.0, limits.canary_p50_s),
        ("p99", p99 if p99_judged else 0.0, limits.canary_p99_s),
        ("max", worst, limits.canary_max_s), ("longest without an answer", silence.seconds, limits.canary_silence_s),
        ("unanswered", unanswered, unanswered_bound)) if seen > bound]
    if over:
        # A request that went out late waited in the canary, not in the server: a busy host, or a full pool.
        late = sum(1 for s in samples if s.sent_after_s > CANARY_LATE_S)
        why = (f"; {late} went out over {CANARY_LATE_S * 1000:.0f} ms after they were due (a busy host, or every "
               "canary connection waiting)") if late else ""
        return _fail("slow_canary", history,
                     f"{text} during {_what_ran(scenario)} (expected {', '.join(over)}{why})")
    return Verdict("slow_canary", ok=True, message=text)


def no_timeout(scenario: Scenario, history: CaseHistory) -> Verdict:
    bounded = [outcome for outcome in history.clients if outcome.run.expect.cut_off_s is not None]
    if not bounded:
        return _na("no_timeout", "no client in this case must be cut off")
    problems: list[str] = []
    for outcome in bounded:
        expect = outcome.run.expect
        limit = expect.cut_off_s
        assert limit is not None
        for connection in outcome.connections():
            by_server = connection.closed_by_server
            if not by_server and expect.undeclared and expect.deadline is not None:
                # The profile declares no such deadline: the case runs anyway, and says what that costs.
                problems.append(
                    f"no {expect.deadline} deadline: {WITHOUT_DEADLINE[expect.deadline]} "
                    f"({outcome.run.behaviour} #{connection.index} still connected after {connection.elapsed_s:.1f} s, "
                    f"the client's whole bounded run; the profile declares no [deadlines] {expect.deadline}_s, "
                    f"the lab's ceiling is {limit - GRACE_S:g} s)")
            # The server's clock starts once the connection is established: lost SYNs (1 s, then 2 s more, from a
            # full listen queue) are the network's.
            elif not by_server or connection.elapsed_s - connection.connect_s > limit:
                connect = (f" of which connecting took {connection.connect_s:.1f} s"
                           if connection.connect_s >= 0.1 else "")
                problems.append(
                    f"{outcome.run.behaviour} #{connection.index} was "
                    f"{'cut off' if by_server else 'still connected'} after {connection.elapsed_s:.1f} s{connect} "
                    f"(closed by {connection.closed_by}; expected the server to close it within {limit:g} s "
                    "of the connection's establishment)")
    unreported = [text for index, text in _unreported_runs(scenario, history)
                  if history.clients[index].run.expect.cut_off_s is not None]
    if problems:
        return _fail("no_timeout", history, _first(problems) + _also(unreported))
    if unreported:
        return missing("no_timeout", _first(unreported))
    return Verdict("no_timeout", ok=True)


def _unreported_runs(scenario: Scenario, history: CaseHistory) -> list[tuple[int, str]]:
    """The client runs (index in history.clients, why) without a result, where the case does not kill clients
    (a killed client's result is lost by design): a client ends with exit 0 whatever the server does, so no
    result is the lab's trouble."""
    if scenario.fault is not None and scenario.fault.kills_clients:
        return []
    unreported = []
    for index, outcome in enumerate(history.clients):
        if outcome.result is not None:
            continue
        how = ("did not finish within its deadline" if outcome.exit_code is None
               else f"failed (exit {outcome.exit_code})")
        said = outcome.stderr.strip().splitlines()[-1:] or ["no message"]
        unreported.append((index, f"{outcome.run.describe()} {how}: {said[0]}; its result is missing"))
    return unreported


def _also(unreported: list[str]) -> str:
    return f"; also, {_first(unreported)}" if unreported else ""


def _unreported(scenario: Scenario, history: CaseHistory) -> list[str]:
    return [text for _, text in _unreported_runs(scenario, history)]


def probe_stream(scenario: Scenario, history: CaseHistory) -> Verdict | None:
    """Missing when the probe left a gap the verdicts needed (fds, sockets, CPU and memory are judged on its
    readings); None when there is nothing to say. A stopped target takes the probe along: crash judges it."""
    if target_stopped(scenario, history):
        return None
    start, end = longest_gap(history)
    bound = scenario.limits.max_reading_gap_s
    if end - start <= bound:
        return None
    errors = probe_errors(history)
    said = _first(errors) if errors else "no probe error recorded (a starved probe)"
    since, until = case_time(history, start), case_time(history, end)
    if end == history.observed_until:
        return missing("probe_stream", f"the probe stream ended at {since}: {said}; no reading of the target from "
                                       f"then to {until}, the case's last measurement")
    return missing("probe_stream", f"no reading of the target from {since} to {until} ({end - start:.1f} s; at "
                                   f"most {bound:g} s between readings are needed to judge fds, sockets, "
                                   f"CPU and memory): {said}")


CHECKS: dict[str, Callable[[Scenario, CaseHistory], Verdict]] = {
    "fd_leak": fd_leak, "close_wait": close_wait, "stale_connection": stale_connection, "cpu_spin": cpu_spin,
    "memory_growth": memory_growth, "crash": crash, "wrong_response": wrong_response, "stall": stall,
    "slow_canary": slow_canary, "no_timeout": no_timeout,
}
assert tuple(CHECKS) == CHECK_NAMES


def judge(scenario: Scenario, history: CaseHistory) -> list[Verdict]:
    """Every check's verdict, and a `probe_stream` one when the probe's readings left a gap (the case is then an
    error, unless a check failed)."""
    verdicts = [check(scenario, history) for check in CHECKS.values()]
    gap = probe_stream(scenario, history)
    return verdicts + ([gap] if gap is not None else [])


def _states(history: CaseHistory) -> str:
    tcp = history.settled.tcp if history.settled else {}
    return ", ".join(f"{state} {count}" for state, count in sorted(tcp.items()) if count) or "none"


def _statuses(allowed: frozenset[int]) -> str:
    if allowed == ERROR_STATUSES:
        return "a 4xx or 501/505"
    return " or ".join(str(status) for status in sorted(allowed))


def _first(problems: list[str]) -> str:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return problems[0] + more
