"""Checks: pure functions from (scenario, history) to a verdict. No Docker, no I/O; unit-tested alone.

Every failure message says what was expected, what was seen, and the command that reproduces it.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from lab.chaos import memory
from lab.chaos.history import CaseHistory, CpuWindow
from lab.chaos.scenario import ERROR_STATUSES, GRACE_S, WITHOUT_DEADLINE, Scenario, StopTarget

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


def _settled_or_na(check: str, history: CaseHistory) -> Verdict | None:
    if history.settled is None:
        return _na(check, "the target could not be observed after the case (see crash)")
    return None


def fd_leak(scenario: Scenario, history: CaseHistory) -> Verdict:
    if (na := _settled_or_na("fd_leak", history)) is not None:
        return na
    assert history.settled is not None
    before, after = history.baseline.fds, history.settled.fds
    if after <= before:
        return Verdict("fd_leak", ok=True, message=f"fd count {before} → {after}")
    return _fail("fd_leak", history,
                 f"fd count {before} → {after} after {_what_ran(scenario)}, still {after - before} over the "
                 f"baseline {history.settle_elapsed_s:.1f} s later (expected back to {before} within "
                 f"{scenario.limits.settle_s:g} s); sockets by state: {_states(history)}")


def close_wait(scenario: Scenario, history: CaseHistory) -> Verdict:
    if (na := _settled_or_na("close_wait", history)) is not None:
        return na
    assert history.settled is not None
    stuck = history.settled.sockets("CLOSE_WAIT") - history.baseline.sockets("CLOSE_WAIT")
    if stuck <= 0:
        return Verdict("close_wait", ok=True)
    return _fail("close_wait", history,
                 f"{stuck} sockets in CLOSE_WAIT {history.settle_elapsed_s:.1f} s after {_what_ran(scenario)} "
                 "(expected 0: the peer closed and the server never closed its side)")


def stale_connection(scenario: Scenario, history: CaseHistory) -> Verdict:
    if (na := _settled_or_na("stale_connection", history)) is not None:
        return na
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
    """CPU after the case (an idle loop sleeps) and, where the case holds connections, while held."""
    windows: list[tuple[str, CpuWindow, float]] = []
    if history.idle_cpu is not None:
        windows.append(("after the case", history.idle_cpu, scenario.limits.max_idle_cpu))
    held = scenario.held_cpu
    if held is not None and history.held_cpu is not None:
        window = history.held_cpu
        holding, left = window.start.sockets("ESTABLISHED"), window.end.sockets("ESTABLISHED")
        canary = sum(1 for sample in history.canary if window.start.t <= sample.t <= window.end.t)
        notes = [f"{left} at its end"] if left < holding else []
        notes += [f"{canary} canary requests"] if canary else []
        held_text = "1 connection was" if holding == 1 else f"{holding} connections were"
        label = f"while {held_text} held" + (f" ({', '.join(notes)})" if notes else "")
        windows.append((label, window, held.bound_with(canary, window.seconds)))
    if not windows:
        return _na("cpu_spin", "no CPU window could be measured (see crash)")
    texts = [f"{w.cpu_share:.1%} of a core over {w.seconds:.1f} s {label} (limit {limit:.0%})"
             for label, w, limit in windows]
    if held is not None and history.held_cpu is None:
        texts.append(f"no window while held: {history.held_error or 'not measured'}")
    for number, (label, window, limit) in enumerate(windows):
        if window.cpu_share > limit:
            others = "; ".join(text for n, text in enumerate(texts) if n != number)
            return _fail("cpu_spin", history,
                         f"target used {window.cpu_share:.0%} of a core over {window.seconds:.1f} s {label} "
                         f"({_what_ran(scenario)}; expected at most {limit:.0%}: an event loop with nothing "
                         f"to do sleeps in epoll_wait)" + (f"; also {others}" if others else ""))
    return Verdict("cpu_spin", ok=True, message="; ".join(texts))


def peak_held_connections(history: CaseHistory) -> int:
    """The most ESTABLISHED sockets the probe saw over the baseline during the case."""
    seen = [sample.sockets("ESTABLISHED") for sample in history.samples]
    if history.held_cpu is not None:
        seen += [history.held_cpu.start.sockets("ESTABLISHED"), history.held_cpu.end.sockets("ESTABLISHED")]
    return max([0, *seen]) - history.baseline.sockets("ESTABLISHED")


def memory_growth(scenario: Scenario, history: CaseHistory) -> Verdict:
    """The case's peak RSS within a constant, a per-connection allowance and one response per connection in
    flight; in a case played in rounds, no growth between the later rounds either."""
    peak = memory.case_peak(history)
    if peak is None:
        return missing("memory_growth", "no reading of the target's memory during the case")
    growth = peak.bytes - history.baseline.rss_bytes
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
                     f"RSS grew {history.baseline.rss_bytes / MiB:.0f} → {peak.bytes / MiB:.0f} MiB "
                     f"(+{growth / MiB:.1f} MiB{per_connection}, peak from {peak.source}; expected at most {rule}) "
                     f"during {_what_ran(scenario)}{also}")
    peak_text = f"peak RSS growth {growth / MiB:.1f} MiB{per_connection} (from {peak.source}; limit {rule})"
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
    if not problems:
        return Verdict("wrong_response", ok=True, message=f"{judged} responses judged")
    return _fail("wrong_response", history, _first(problems))


def stall(scenario: Scenario, history: CaseHistory) -> Verdict:
    """Every response the clients' plans ask for arrives whole, on every connection."""
    problems: list[str] = []
    counts: list[str] = []
    for outcome in history.clients:
        if outcome.exit_code is None:
            problems.append(f"{outcome.run.describe()} did not finish within its deadline")
            continue
        if outcome.result is None:
            if scenario.fault is None or not scenario.fault.kills_clients:
                problems.append(f"{outcome.run.describe()} failed (exit {outcome.exit_code}): "
                                f"{outcome.stderr.strip().splitlines()[-1:] or 'no message'}")
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
        problems.append(f"a fresh GET / after the case failed: {history.after_request_error}")
    if not problems:
        return Verdict("stall", ok=True, message="; ".join(counts))
    return _fail("stall", history, _first(problems) + (f" — {'; '.join(counts)}" if counts else ""))


def slow_canary(scenario: Scenario, history: CaseHistory) -> Verdict:
    if not scenario.canary:
        return _na("slow_canary", "no canary in this case")
    samples = history.canary
    if not samples:
        return _fail("slow_canary", history, "the canary made no request during the case")
    failed = [s for s in samples if s.latency_s is None]
    limits = scenario.limits
    if failed:
        first = failed[0]
        return _fail("slow_canary", history,
                     f"{len(failed)} of {len(samples)} canary requests failed during {_what_ran(scenario)} "
                     f"(first: {first.error}{' on a kept-alive connection' if first.keep_alive else ''})")
    latencies = sorted(s.latency_s for s in samples if s.latency_s is not None)
    p50, worst = statistics.median(latencies), latencies[-1]
    kept = sum(1 for s in samples if s.keep_alive)
    text = (f"canary p50 {p50 * 1000:.0f} ms, max {worst * 1000:.0f} ms over {len(latencies)} requests "
            f"({kept} on kept-alive connections)")
    if worst > limits.canary_max_s or p50 > limits.canary_p50_s:
        return _fail("slow_canary", history,
                     f"{text} during {_what_ran(scenario)} (expected p50 ≤ {limits.canary_p50_s * 1000:.0f} ms "
                     f"and max ≤ {limits.canary_max_s * 1000:.0f} ms)")
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
            elif not by_server or connection.elapsed_s > limit:
                problems.append(
                    f"{outcome.run.behaviour} #{connection.index} was "
                    f"{'cut off' if by_server else 'still connected'} after {connection.elapsed_s:.1f} s "
                    f"(closed by {connection.closed_by}; expected the server to close it within {limit:g} s)")
    if not problems:
        return Verdict("no_timeout", ok=True)
    return _fail("no_timeout", history, _first(problems))


CHECKS: dict[str, Callable[[Scenario, CaseHistory], Verdict]] = {
    "fd_leak": fd_leak, "close_wait": close_wait, "stale_connection": stale_connection, "cpu_spin": cpu_spin,
    "memory_growth": memory_growth, "crash": crash, "wrong_response": wrong_response, "stall": stall,
    "slow_canary": slow_canary, "no_timeout": no_timeout,
}
assert tuple(CHECKS) == CHECK_NAMES


def judge(scenario: Scenario, history: CaseHistory) -> list[Verdict]:
    return [check(scenario, history) for check in CHECKS.values()]


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
