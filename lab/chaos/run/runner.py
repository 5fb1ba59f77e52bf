"""Plays one scenario on a running lab and records its history; pytest and `python -m lab run` share it."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.chaos.model import cpu_stream, memory
from lab.chaos.model.checks import judge, outcome
from lab.chaos.model.client_result import ClientResultError, RunResult
from lab.chaos.model.faults import FaultUnavailable
from lab.chaos.model.faults.schedule import FaultSchedule
from lab.chaos.model.history import CaseHistory, ClientOutcome, CpuWindow, TargetState
from lab.chaos.model.restarts import processes_settled
from lab.chaos.model.scenario import ClientRun, HeldCpu, Scenario, attribute_text
from lab.chaos.model.settle import settle_decided, settle_reading
from lab.chaos.model.timing import PhaseClock
from lab.chaos.run.canary import Canary
from lab.chaos.run.capture import Capture, capture_windows
from lab.chaos.run.clock import SYSTEM_CLOCK, Clock
from lab.client_agent import CLIENTS_MODULE
from lab.errors import LabError
from lab.http_check import http_get
from lab.instance import Lab
from lab.probe import Snapshot, Timeline
from lab.settings import PROXY_NAME, TARGET_SERVICE

SAMPLE_INTERVAL_S = 0.25  # the timeline's readings, which the settle checks judge too; 0.5 s CPU windows are 2
READINGS_LATE_S = 3.0  # how late the reading after a settle bound may arrive before the wait gives up
EXEC_SLACK_S = 20.0  # docker exec start-up and a loaded machine, on top of a run's own bound
QUIET_BASELINE_S = 3.0
PEAK_RESET_WAIT_S = 10.0  # the stream's first line: a `docker exec` start-up on a loaded machine
FAULT_WAIT_S = 15.0
HOLD_WAIT_S = 10.0  # the clients have this long to get their connections held before the CPU window



def client_command(run: ClientRun, address: str, seed: int, record: str | None = None) -> list[str]:
    command = [*CLIENTS_MODULE, "run", run.behaviour, "--target", address, "--seed", str(seed),
               "--connections", str(run.connections), "--json"]
    if run.concurrency is not None:
        command += ["--concurrency", str(run.concurrency)]
    for key, value in run.attributes:
        command += ["--set", f"{key}={attribute_text(value)}"]
    if record:
        command += ["--record", record]
    return command


def fleet_seed(seed: int, index: int, replica: int, runs: int) -> int:
    """Client run `index` in clients container `replica` (from 1): replica 1 keeps the seed it always had."""
    return seed + index + (replica - 1) * runs


def target_state(lab: Lab) -> TargetState:
    state = lab.container(TARGET_SERVICE).attrs["State"]  # freshly inspected (Lab.container)
    return TargetState(running=bool(state["Running"]), started_at=str(state["StartedAt"]),
                       exit_code=None if state["Running"] else int(state["ExitCode"]),
                       oom_killed=bool(state.get("OOMKilled")))


class CaseRunner:
    """Runs scenarios one after another on one lab (one per xdist worker)."""

    def __init__(self, lab: Lab, *, repro: Callable[[Scenario, int], str], record_dir: str | None = None,
                 log: Callable[[str], None] = lambda _: None, capture_dir: Path | None = None,
                 capture_failures_only: bool = False, clock: Clock = SYSTEM_CLOCK) -> None:
        self.lab = lab
        self._clock = clock  # every wait, window and event time of the runner's own (unit tests give a fake)
        self._started = 0.0  # the running case's start on that clock: events are stamped from it
        self._capture_dir = capture_dir  # `--capture`: record packets and syscalls into this folder
        # The suite's `--lab-capture`: a case whose checks all pass keeps nothing, so nothing is collected.
        self._capture_failures_only = capture_failures_only
        self._capture: Capture | None = None  # the running case's capture: its trace is paused for CPU windows
        self._timeline: Timeline | None = None  # the running case's stream of readings of the target
        self._repro = repro
        self._record_dir = record_dir  # inside the clients container: keep each run's op history there
        self._log = log

    def _event(self, history: CaseHistory, text: str) -> None:
        """What the runner did, stamped with the seconds since the case started."""
        history.event(self._clock.monotonic() - self._started, text)

    # -- preparing -------------------------------------------------------------------------------
    def prepare(self, *, fresh: bool) -> None:
        """A healthy target and a clean proxy before a case; a fresh target process when asked."""
        for service in ("clients", "toxiproxy"):
            self.lab.ensure_running(service)
        self.lab.toxiproxy().reset()
        if fresh or not self._target_answers():
            self._log("restarting the target")
            self.lab.restart_target()

    def _target_running(self) -> bool:
        try:
            return target_state(self.lab).running
        except Exception:  # cannot tell: as if it were not
            return False

    def _target_answers(self) -> bool:
        try:
            return target_state(self.lab).running and http_get(self.lab.endpoints().direct_url,
                                                               timeout=3).status > 0
        except Exception:  # anything wrong with the target means restart it
            return False

    def _await_reading(self, condition: Callable[[Snapshot], bool], *, timeout: float, what: str,
                       since: float | None = None) -> tuple[Snapshot | None, str | None]:
        """The first of the case's readings from now on (or taken from `since`, on the stream's clock) for which
        `condition` holds, each judged once and in order; at the timeout, the last reading (or None) and the
        error."""
        assert self._timeline is not None, "readings are awaited only while a case runs"
        reading, held = self._timeline.next_reading(condition, timeout=timeout, since=since)
        if held:
            return reading, None
        trouble = f" (the probe's stream: {self._timeline.errors[-1]})" if self._timeline.errors else ""
        return reading, f"timed out after {timeout:g} s waiting for {what}{trouble}"

    def _quiet_baseline(self, *, since: float | None) -> Snapshot:
        """The target's state once earlier connections (the readiness checks, a previous case) are gone, from the
        first reading taken `since` (the peak reset, on the stream's clock) or from now on."""
        # A server that leaks never gets quiet: then the baseline is what it is now.
        last, _ = self._await_reading(lambda s: s.sockets("ESTABLISHED") == 0 and s.sockets("CLOSE_WAIT") == 0
                                      and processes_settled(s), timeout=QUIET_BASELINE_S, what="a quiet target",
                                      since=since)
        return last if last is not None else self.lab.probe().snapshot()

    # -- running ---------------------------------------------------------------------------------
    def run(self, scenario: Scenario, seed: int, *, fresh: bool = False) -> CaseHistory:
        clock = PhaseClock()
        self.prepare(fresh=fresh)
        if self._record_dir:
            self.lab.exec("clients", ["mkdir", "-p", self._record_dir], timeout=30)
        clock.lap("prepare")
        # One stream of readings from the baseline to the end: every wait on the target reads it. The lab keeps it
        # from case to case; it resets the peak RSS (VmHWM) as the case begins: the case's peak is from there on.
        try:
            timeline = self.lab.probe_stream(SAMPLE_INTERVAL_S)
            timeline.begin_case()
            self._timeline = timeline
            try:
                return self._run_observed(scenario, seed, timeline, clock)
            finally:
                self._timeline = None
                if not self._target_running():
                    self.lab.end_probe_stream()  # its agent went with the target
        finally:
            clock.lap("restore")  # the lab undone

    def _run_observed(self, scenario: Scenario, seed: int, timeline: Timeline, clock: PhaseClock) -> CaseHistory:
        endpoints = self.lab.endpoints()  # read again after whatever recreated or started a container
        reset_at, peak_reset_error = timeline.peak_reset(timeout=PEAK_RESET_WAIT_S)
        history = CaseHistory(case_id=scenario.id, seed=seed, target=self.describe_target(),
                              repro=self._repro(scenario, seed), baseline=self._quiet_baseline(since=reset_at),
                              target_before=target_state(self.lab),
                              on_event=lambda t, text: self._log(f"{t:7.3f}s  {text}"))
        history.peak_reset_error = peak_reset_error
        history.phases = clock.phases
        if "stats" in scenario.requires:
            history.stats_before = self._stats()
        clock.lap("baseline")
        self._started = history.started = self._clock.monotonic()
        history.event(0.0, f"baseline: {history.baseline.fds} fds, {history.baseline.sockets('ESTABLISHED')} "
                           f"ESTABLISHED, {history.baseline.sockets('CLOSE_WAIT')} CLOSE_WAIT "
                           f"(lab prepared in {clock.phases['prepare']:.1f} s, "
                           f"baseline taken in {clock.phases['baseline']:.1f} s)")
        toxiproxy = self.lab.toxiproxy()
        for toxic in scenario.toxics:
            toxiproxy.add_toxic(PROXY_NAME, toxic)
            self._event(history, f"toxic {toxic.describe()}")
        capture = self._capture = Capture(self.lab) if self._capture_dir else None
        skipped = False
        try:
            if capture is not None:
                clock.lap("clients")
                capture.start()
                clock.lap("capture")
                self._event(history, "capture started: tcpdump and strace in the probe")
            # A scenario adapted to a profile (lab.chaos.model.adapt) carries its small route; every target
            # other than the bundled server is run adapted (an image alone: GET /, status only).
            # ptrace delays the target's answers (2,000 closes traced made a canary request 1.09 s): the trace
            # is off while the canary's latency is judged.
            with (capture.untraced("the canary's latency was judged")
                  if capture is not None and scenario.canary else contextlib.nullcontext()), \
                 (Canary(endpoints.direct_url, path=scenario.canary_path, expect_body=scenario.canary_body)
                  if scenario.canary
                  else contextlib.nullcontext()) as canary:
                number = 0
                while number < scenario.rounds or memory.more_rounds_needed(scenario, history.rounds, number):
                    number += 1
                    self._run_clients(scenario, seed, history)
                    if scenario.rounds > 1:
                        self._after_round(scenario, history, timeline, number)
            if canary is not None:
                history.canary = canary.samples
                history.canary_stalls = canary.stalls
            toxiproxy.reset()
            clock.lap("clients")
            clients_done = self._clock.monotonic()
            self._event(history, "clients done, toxics removed")
            if scenario.stops_target or not target_state(self.lab).running:
                history.target_after = target_state(self.lab)  # a stopped target's stream ends in run()
            else:
                self._settle(scenario, history, timeline)
                clock.lap("settle")
                self._event(history, "settle judged on the reading taken at "
                                                        f"{history.settle_elapsed_s:.1f} s; idle CPU window")
                history.idle_cpu = self._cpu_window(scenario.limits.idle_window_s)
                history.observed_until = self._clock.monotonic()  # readings are judged up to here (checks.probe_stream)
                if history.idle_cpu is None:
                    history.probe_errors.append(f"no idle CPU window: no reading opened or closed the "
                                                f"{scenario.limits.idle_window_s:g} s window in time (each may be "
                                                f"{READINGS_LATE_S:g} s late)")
                self._watch_a_suspected_spin(history, timeline, clients_done)
                clock.lap("cpu window")
                idle = history.idle_cpu
                if capture is not None and idle is not None and idle.cpu_share > scenario.limits.max_idle_cpu:
                    # The window ran untraced; cpu_spin will fail: trace as long a stretch right after it.
                    self._clock.sleep(scenario.limits.idle_window_s)
                    clock.lap("capture")
                history.after_request_error = self._fresh_request_error(scenario.canary_path)
                if "stats" in scenario.requires:
                    history.stats_after = self._stats()
                history.target_after = target_state(self.lab)
            history.samples = [reading for reading in timeline.samples if reading.t > history.baseline.t]
            history.probe_errors = [*timeline.errors, *history.probe_errors]
        except FaultUnavailable:
            skipped = True  # the case is skipped (e.g. no sch_netem): nothing to explain, nothing to keep
            raise
        finally:
            clock.lap("after")
            self._capture = None
            if capture is not None:
                if skipped:
                    capture.discard()
                else:
                    self._finish_capture(capture, scenario, history)
                clock.lap("capture")
            self._restore_after(scenario)
        return history

    def _watch_a_suspected_spin(self, history: CaseHistory, timeline: Timeline, since: float) -> None:
        """A quiet interval over a bound after the case is a spin or a burst: read on until cpu_spin can tell."""
        until = cpu_stream.watch_after_case_until(history, timeline.samples, since, SAMPLE_INTERVAL_S)
        if until is None:
            return
        self._event(history, "CPU or wakeups over the quiet bound after the case: reading on to tell a spin "
                             "from a burst")
        _, error = self._await_reading(lambda reading: reading.t >= until,
                                       timeout=max(0.0, until - self._clock.monotonic()) + READINGS_LATE_S,
                                       what="readings to tell a spin from a burst")
        if error:  # the readings missing up to observed_until are a gap cpu_spin reports as unjudged
            history.probe_errors.append(error)
        history.observed_until = self._clock.monotonic()

    def _finish_capture(self, capture: Capture, scenario: Scenario, history: CaseHistory) -> None:
        """Stop the capture and keep what it says; a capture that fails is noted, never fails the case."""
        assert self._capture_dir is not None
        if self._capture_failures_only and outcome(judge(scenario, history)) == "pass":
            capture.discard()  # the checks are pure: the same verdicts later, with nothing to explain
            self._event(history, "capture discarded: every check passed")
            return
        try:
            windows, untraced = capture_windows(history, capture.untraced_spans)
            evidence = capture.finish(self._capture_dir, windows, history.settled.t if history.settled else None)
            history.evidence = dataclasses.replace(evidence, untraced_windows=tuple(untraced))
            self._event(history, f"capture and trace saved in {self._capture_dir}")
        except Exception as error:  # the verdicts stand without the evidence
            history.probe_errors.append(f"capture: {error}")
            with contextlib.suppress(Exception):
                capture.abort()

    def describe_target(self) -> str:
        config = self.lab.config
        if not config.bundled_target:
            return f"{config.target_image} (port {config.target_port})"
        text = f"bundled server, trigger={config.trigger}"
        if config.bug:
            text += f", bug={config.bug}"
        return text + (f", nofile={config.target_nofile}" if config.target_nofile != 8192 else "")

    def _run_clients(self, scenario: Scenario, seed: int, history: CaseHistory) -> None:
        endpoints = self.lab.endpoints()

        # A fleet's run is one share per clients container (replica), each with a seed of its own.
        plays = [(index, replica, share) for index, run in enumerate(scenario.clients)
                 for replica, share in enumerate(run.shares(), start=1)]
        outcomes: list[ClientOutcome | None] = [None] * len(plays)

        def play(slot: int, index: int, replica: int, run: ClientRun) -> None:
            address = endpoints.lab_proxied if run.route == "proxied" else endpoints.lab_direct
            # Replica 1 keeps the history (`lab run` copies it out); other replicas go when the fleet does.
            record = f"{self._record_dir}/{scenario.id}-{index}.json" if self._record_dir and replica == 1 else None
            command = client_command(run, address, fleet_seed(seed, index, replica, len(scenario.clients)), record)
            outcomes[slot] = self._exec_client(run, command, replica)

        if scenario.fleet > 1:
            self.lab.scale_clients(scenario.fleet)
            self._event(history, f"{scenario.fleet} clients containers")
        faults = self._fault_schedule(scenario, history)
        faults.before_clients()
        threads = [threading.Thread(target=play, args=(slot, index, replica, run), name=f"client-{index}.{replica}",
                                    daemon=True) for slot, (index, replica, run) in enumerate(plays)]
        if scenario.held_cpu is not None:  # beside the clients and the fault: a window may fall inside a fault
            threads.append(threading.Thread(target=self._held_cpu_guarded, args=(scenario.held_cpu, history),
                                            name="held-cpu", daemon=True))
        for thread in threads:
            thread.start()
        self._event(history, "clients started")
        try:
            faults.while_clients()
        finally:  # the clients finish (they are bounded) before anything else touches the lab
            longest = max(run.max_duration_s() for run in scenario.clients)
            deadline = self._clock.monotonic() + longest + 2 * EXEC_SLACK_S
            for thread in threads:
                thread.join(timeout=max(0.0, deadline - self._clock.monotonic()))
        faults.after_clients()
        history.clients += [outcome or ClientOutcome(run, [], None, None, "the runner gave up waiting", replica)
                            for (_, replica, run), outcome in zip(plays, outcomes, strict=True)]

    def _held_cpu_guarded(self, held: HeldCpu, history: CaseHistory) -> None:
        try:
            self._held_cpu_window(held, history)
        except Exception as error:  # an unobservable target: cpu_spin says so, the case goes on
            history.held_error = f"{type(error).__name__}: {error}"

    def _held_cpu_window(self, held: HeldCpu, history: CaseHistory) -> None:
        """Once the target holds the case's connections, and no more arrive, the CPU it uses over the window."""
        previous_count = [0]

        def held_steady(snapshot: Snapshot) -> bool:
            # Connects still pouring in are accept work, not a hold: wait until the count stops rising.
            count = snapshot.sockets("ESTABLISHED")
            steady = count >= held.connections and count <= previous_count[0] + max(2, count // 100)
            previous_count[0] = count
            return steady

        last, error = self._await_reading(held_steady, timeout=held.hold_wait_s or HOLD_WAIT_S,
                                          what=f"the target to hold {held.connections} connections, steadily")
        if error:
            history.held_error = error
            self._event(history, f"no held CPU window: {error}")
            return
        holding = last.sockets("ESTABLISHED") if last else held.connections
        self._event(history, f"{holding} connections held")
        if held.after_s:
            self._clock.sleep(held.after_s)  # the case's declared delay (e.g. until a fault has set in)
        self._event(history, f"CPU window of {held.window_s:g} s")
        history.held_cpu = self._cpu_window(held.window_s)

    def _exec_client(self, run: ClientRun, command: list[str], replica: int = 1) -> ClientOutcome:
        limit = run.max_duration_s() + EXEC_SLACK_S
        try:
            if replica == 1:  # the lab's own clients container: its agent runs the client, and kills it at `limit`
                done = self.lab.client_agent().run(command[len(CLIENTS_MODULE):], limit_s=limit, timeout=limit + 5)
            else:  # a fleet's extra containers come and go with the case: a `docker exec` each
                # `timeout` inside the container: killing the local `docker exec` would leave the client running.
                bounded = ["timeout", "-s", "KILL", str(int(limit)), *command]
                done = self.lab.exec("clients", bounded, timeout=limit + 5, replica=replica)
        except LabError as error:
            return ClientOutcome(run, command, None, None, str(error), replica)
        result: RunResult | None = None
        stderr = done.stderr.decode(errors="replace")
        if done.returncode == 0:
            try:
                result = RunResult.from_json(json.loads(done.stdout))
            except (ValueError, ClientResultError) as error:  # the check reports a client without a result
                stderr += f"\nunreadable result: {error}"
        return ClientOutcome(run, command, done.returncode, result, stderr, replica)

    # -- faults ----------------------------------------------------------------------------------
    def _fault_schedule(self, scenario: Scenario, history: CaseHistory) -> FaultSchedule:
        def wait_established(count: int, what: str) -> None:
            _, error = self._await_reading(lambda reading: reading.sockets("ESTABLISHED") >= count,
                                           timeout=FAULT_WAIT_S, what=what)
            if error:
                raise LabError(error)

        return FaultSchedule(scenario.fault, self.lab, history, wait_established=wait_established,
                             event=lambda text: self._event(history, text))

    def _restore_after(self, scenario: Scenario) -> None:
        """Whatever a fault left behind is undone, so the next case starts from a whole lab.

        Each step runs even when an earlier one fails; the first failure is raised at the end.
        """
        steps: list[Callable[[], object]] = [self.lab.toxiproxy().reset]
        if scenario.fleet > 1:
            steps.append(lambda: self.lab.scale_clients(1))
        if scenario.fault is not None:
            fault = scenario.fault
            steps = [lambda: fault.lift(self.lab), lambda: self.lab.ensure_running("clients"), *steps]
        errors: list[Exception] = []
        for step in steps:
            try:
                step()
            except Exception as error:  # keep undoing; report the first failure
                errors.append(error)
        if errors:
            raise LabError(f"could not restore the lab after {scenario.id}: {errors[0]}")

    # -- measuring after -------------------------------------------------------------------------
    def _settle(self, scenario: Scenario, history: CaseHistory, timeline: Timeline) -> None:
        """Wait until the timeline's readings fix the settle verdict (lab.chaos.model.settle), at most a little past
        the case's settle bound, and keep the reading to judge."""
        baseline, bound = history.baseline, scenario.limits.settle_s
        began = self._clock.monotonic()
        timeline.read_now()  # a target that has already settled is seen so now, not a sampling period later
        if not timeline.wait_for(lambda readings: settle_decided(baseline, readings, began, bound),
                                 timeout=bound + READINGS_LATE_S):
            history.probe_errors.append(f"no probe reading after the {bound:g} s settle bound arrived within "
                                        f"{READINGS_LATE_S:g} s")
        history.settled = settle_reading(baseline, timeline.samples, began, bound)
        if history.settled is None:  # no stream at all: one reading the slow way, or none (see crash)
            with contextlib.suppress(Exception):
                history.settled = self.lab.probe().snapshot()
        history.settle_elapsed_s = (history.settled.t if history.settled else self._clock.monotonic()) - began

    def _after_round(self, scenario: Scenario, history: CaseHistory, timeline: Timeline, number: int) -> None:
        """Once a round's connections are gone (judged as the settle checks judge them, within the case's settle
        bound) and then `Scenario.round_quiet_s` has passed, keep a reading: the RSS after each round is where a
        leak per connection shows."""
        baseline, bound = history.baseline, scenario.limits.settle_s
        began = self._clock.monotonic()
        timeline.read_now()
        timeline.wait_for(lambda readings: settle_decided(baseline, readings, began, bound),
                          timeout=bound + READINGS_LATE_S)
        settled = settle_reading(baseline, timeline.samples, began, bound)
        quiet_from = settled.t if settled is not None else self._clock.monotonic()
        reading, error = self._await_reading(lambda r: r.t >= quiet_from + scenario.round_quiet_s,
                                             timeout=scenario.round_quiet_s + READINGS_LATE_S,
                                             what=f"a reading after round {number}")
        if error or reading is None:  # memory_growth says the round's reading is missing
            history.probe_errors.append(error or f"no probe reading after round {number}")
            return
        history.rounds.append(reading)
        which = (f"{number} of {scenario.rounds}" if number <= scenario.rounds
                 else f"{number} (past the {scenario.rounds} planned: the judged rounds still grew)")
        self._event(history, f"round {which} done: "
                                                f"RSS {reading.rss_bytes / (1 << 20):.2f} MiB, {reading.fds} fds")

    def _cpu_window(self, seconds: float) -> CpuWindow | None:
        """The CPU the target uses over `seconds`, between two of the timeline's readings: one asked for at once
        (after a capture's trace is off, not a period later), and the one that comes at the window's end."""
        # ptrace slows every syscall of the target: a capture's trace is off while CPU is measured.
        with self._capture.untraced() if self._capture is not None else contextlib.nullcontext():
            assert self._timeline is not None
            self._timeline.read_now()
            first, _ = self._await_reading(lambda _: True, timeout=READINGS_LATE_S,
                                           what="a reading to open the CPU window")
            if first is None:
                return None  # an unobservable target: the checks say so (see crash)
            # Readings come SAMPLE_INTERVAL_S apart, give or take: one a little short of the end closes it.
            end = first.t + seconds - SAMPLE_INTERVAL_S / 4
            last, _ = self._await_reading(lambda reading: reading.t >= end, timeout=seconds + READINGS_LATE_S,
                                          what="a reading to close the CPU window")
            return CpuWindow(first, last) if last is not None and last.t >= end else None

    def _stats(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(http_get(self.lab.endpoints().direct_url, "/__lab/stats", timeout=5).body))
        except Exception:  # a missing or broken stats page is the check's finding
            return None

    def _fresh_request_error(self, path: str) -> str | None:
        return fresh_request_error(self.lab.endpoints().direct_url, path)


def fresh_request_error(url: str, path: str) -> str | None:
    """A fresh GET of the target's small route (the canary's: a profile's, not the lab's /) once the case is
    over: why it failed, or None."""
    try:
        result = http_get(url, path, timeout=5)
    except Exception as error:  # the check reports it; the lab goes on
        return f"GET {path}: {type(error).__name__}: {error}"
    return None if result.status == 200 else f"GET {path}: status {result.status}"
