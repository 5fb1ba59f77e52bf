"""What happened during one case: the input of every check (Jepsen-style: history in, verdict out)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lab.chaos.model.client_result import ConnectionResult, RunResult
from lab.chaos.model.evidence import Evidence
from lab.chaos.model.scenario import ClientRun, Scenario
from lab.probe import Snapshot


@dataclass
class ClientOutcome:
    """One `python -m clients run`: its declared expectations and its result (None if it failed)."""

    run: ClientRun
    command: list[str]
    exit_code: int | None  # None: it did not finish within its deadline
    result: RunResult | None
    stderr: str = ""
    replica: int = 1  # the clients container it ran in (a fleet has several)

    def connections(self) -> tuple[ConnectionResult, ...]:
        return self.result.connections if self.result else ()

    def responses_got(self) -> int:
        """Complete responses with an allowed status, counted up to what each connection must get."""
        want, statuses = self.run.must_get(), self.run.expect.statuses
        return sum(min(want, c.complete_responses(statuses)) for c in self.connections())

    def responses_owed(self) -> int:
        return self.run.must_get() * self.run.connections

    def counts_text(self) -> str:
        """The counts for people, e.g. "40/40 responses (20×2 pipelined)"."""
        return f"{self.responses_got()}/{self.responses_owed()} responses ({self.run.plan_text()})"

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run.describe(), "client_run": self.run.to_json(), "route": self.run.route,
                "command": self.command, "exit_code": self.exit_code,
                "result": self.result.to_json() if self.result else None, "stderr": self.stderr[-2000:],
                "replica": self.replica}

    @classmethod
    def from_json(cls, data: dict[str, Any], run: ClientRun | None = None) -> ClientOutcome:
        """`run`: the case's own client run, for histories written before they carried it (`client_run`)."""
        if "client_run" in data:
            run = ClientRun.from_json(data["client_run"])
        if run is None:
            raise ValueError(f"client {data.get('run')!r}: the history does not say how it ran (no client_run)")
        result = data.get("result")
        return cls(run=run, command=list(data.get("command", [])), exit_code=data.get("exit_code"),
                   result=None if result is None else RunResult.from_json(result), stderr=str(data.get("stderr", "")),
                   replica=int(data.get("replica", 1)))


@dataclass(frozen=True)
class CanarySample:
    """One canary request, timed open-loop (lab.chaos.run.canary): from when its schedule made it due, not from when
    it went out, so a stall delays every request due during it (no coordinated omission)."""

    t: float  # monotonic time the request was due (its slot in the schedule)
    latency_s: float | None  # answered - t; None: the request failed or was never answered (error says how)
    error: str | None = None
    keep_alive: bool = False  # a request after the first on one connection (else a fresh connection)
    sent_after_s: float = 0.0  # how long after t it went out (an earlier answer on its connection, a full pool)
    retried: bool = False  # its kept-alive connection closed with no answer: sent again on a fresh one

    @property
    def answered(self) -> float | None:
        return None if self.latency_s is None else self.t + self.latency_s

    def to_json(self) -> dict[str, Any]:
        return {"t": self.t, "latency_s": self.latency_s, "error": self.error, "keep_alive": self.keep_alive,
                "sent_after_s": self.sent_after_s, "retried": self.retried}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CanarySample:
        """Also reads histories from before the open-loop canary (no sent_after_s: sent when due)."""
        latency = data.get("latency_s")
        return cls(float(data["t"]), None if latency is None else float(latency), data.get("error"),
                   bool(data.get("keep_alive", False)), float(data.get("sent_after_s", 0.0)),
                   bool(data.get("retried", False)))


@dataclass(frozen=True)
class CanaryStall:
    """A time the canary's own process did not run (a busy host, a held GIL), as jHiccup measures it: its meter
    thread asked to sleep a few milliseconds and woke `seconds` later than asked. Not the server's time."""

    start: float  # monotonic time the meter should have woken
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "seconds": self.seconds}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CanaryStall:
        return cls(float(data["start"]), float(data["seconds"]))


@dataclass(frozen=True)
class CpuWindow:
    """CPU the target used between two snapshots."""

    start: Snapshot
    end: Snapshot

    @property
    def seconds(self) -> float:
        return max(self.end.t - self.start.t, 1e-6)

    @property
    def cpu_share(self) -> float:
        """Share of one core: 1.0 is a core spinning flat out."""
        return (self.end.cpu_ticks - self.start.cpu_ticks) / self.end.clk_tck / self.seconds

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.to_json(), "end": self.end.to_json(), "cpu_share": round(self.cpu_share, 4)}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> CpuWindow | None:
        return None if data is None else cls(Snapshot.from_json(data["start"]), Snapshot.from_json(data["end"]))


@dataclass(frozen=True)
class TargetState:
    """The target container as Docker saw it after the case."""

    running: bool
    started_at: str
    exit_code: int | None = None
    oom_killed: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> TargetState | None:
        return None if data is None else cls(bool(data["running"]), str(data["started_at"]), data.get("exit_code"),
                                             bool(data.get("oom_killed", False)))


@dataclass
class CaseHistory:
    case_id: str
    seed: int
    target: str  # image, and trigger/bug for the bundled server
    repro: str  # one command that reruns this case exactly
    baseline: Snapshot
    target_before: TargetState
    samples: list[Snapshot] = field(default_factory=list)
    clients: list[ClientOutcome] = field(default_factory=list)
    canary: list[CanarySample] = field(default_factory=list)
    canary_stalls: list[CanaryStall] = field(default_factory=list)  # the canary's own, from its meter thread
    events: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, what the runner did)
    settled: Snapshot | None = None  # the reading the settle checks judge (lab.chaos.model.settle)
    settle_elapsed_s: float = 0.0  # when that reading was taken, after the settle wait began
    rounds: list[Snapshot] = field(default_factory=list)  # Scenario.rounds: the settled reading after each round
    idle_cpu: CpuWindow | None = None
    held_cpu: CpuWindow | None = None  # while the clients held their connections (Scenario.held_cpu)
    held_error: str | None = None  # why no held window was measured (the target never held them)
    target_after: TargetState | None = None
    stop_elapsed_s: float | None = None  # StopTarget: how long `docker stop` took
    after_request_error: str | None = None  # a fresh GET of the small route once the case is over; None: it worked
    probe_errors: list[str] = field(default_factory=list)
    peak_reset_error: str | None = None  # why the target's VmHWM could not be reset before the baseline
    stats_before: dict[str, Any] | None = None  # the bundled server's /__lab/stats, for cases that need it
    stats_after: dict[str, Any] | None = None
    started: float | None = None  # time.monotonic() when the events' clock started (the probe's clock too)
    observed_until: float | None = None  # when the case's last measurement of the target ended (probe's clock)
    evidence: Evidence | None = None  # `--capture`: what the packet capture and the syscall trace say
    phases: dict[str, float] = field(default_factory=dict)  # seconds per part of the case (lab.chaos.model.timing)
    on_event: Callable[[float, str], None] | None = field(default=None, repr=False, compare=False)  # live progress

    def event(self, t: float, text: str) -> None:
        self.events.append((t, text))
        if self.on_event is not None:
            self.on_event(t, text)

    def to_json(self) -> dict[str, Any]:
        def window(w: CpuWindow | None) -> dict[str, Any] | None:
            return None if w is None else w.to_json()

        return {
            "case": self.case_id, "seed": self.seed, "target": self.target, "repro": self.repro,
            "baseline": self.baseline.to_json(),
            "samples": [sample.to_json() for sample in self.samples],
            "clients": [client.to_json() for client in self.clients],
            "canary": [sample.to_json() for sample in self.canary],
            "canary_stalls": [stall.to_json() for stall in self.canary_stalls],
            "events": [{"t": t, "event": text} for t, text in self.events],
            "settled": self.settled.to_json() if self.settled else None,
            "settle_elapsed_s": self.settle_elapsed_s,
            "rounds": [reading.to_json() for reading in self.rounds],
            "idle_cpu": window(self.idle_cpu), "held_cpu": window(self.held_cpu), "held_error": self.held_error,
            "target_before": self.target_before.__dict__,
            "target_after": self.target_after.__dict__ if self.target_after else None,
            "stop_elapsed_s": self.stop_elapsed_s, "after_request_error": self.after_request_error,
            "probe_errors": self.probe_errors[-20:], "peak_reset_error": self.peak_reset_error,
            "stats_before": self.stats_before, "stats_after": self.stats_after,
            "started": self.started, "observed_until": self.observed_until,
            "evidence": self.evidence.to_json() if self.evidence else None,
            "phases": {phase: round(seconds, 3) for phase, seconds in self.phases.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], scenario: Scenario | None = None) -> CaseHistory:
        """A history as `to_json` wrote it, to judge again (`python -m lab judge`).

        `scenario`: the case as it ran, for histories written before they carried each client's run: their
        clients are matched to its client runs in the order the runner plays them (each fleet's replicas in turn).
        """
        plays = [share for run in scenario.clients for share in run.shares()] if scenario is not None else []
        clients = [ClientOutcome.from_json(client, plays[number] if number < len(plays) else None)
                   for number, client in enumerate(data.get("clients", []))]
        settled = data.get("settled")
        before = TargetState.from_json(data["target_before"])
        assert before is not None
        return cls(
            case_id=str(data["case"]), seed=int(data["seed"]), target=str(data["target"]), repro=str(data["repro"]),
            baseline=Snapshot.from_json(data["baseline"]), target_before=before,
            samples=[Snapshot.from_json(sample) for sample in data.get("samples", [])], clients=clients,
            canary=[CanarySample.from_json(sample) for sample in data.get("canary", [])],
            canary_stalls=[CanaryStall.from_json(stall) for stall in data.get("canary_stalls", [])],
            events=[(float(event["t"]), str(event["event"])) for event in data.get("events", [])],
            settled=None if settled is None else Snapshot.from_json(settled),
            settle_elapsed_s=float(data.get("settle_elapsed_s", 0.0)),
            rounds=[Snapshot.from_json(reading) for reading in data.get("rounds", [])],
            idle_cpu=CpuWindow.from_json(data.get("idle_cpu")), held_cpu=CpuWindow.from_json(data.get("held_cpu")),
            held_error=data.get("held_error"), target_after=TargetState.from_json(data.get("target_after")),
            stop_elapsed_s=data.get("stop_elapsed_s"), after_request_error=data.get("after_request_error"),
            probe_errors=list(data.get("probe_errors", [])), peak_reset_error=data.get("peak_reset_error"),
            stats_before=data.get("stats_before"), stats_after=data.get("stats_after"), started=data.get("started"),
            observed_until=data.get("observed_until"),
            evidence=None if data.get("evidence") is None else Evidence.from_json(data["evidence"]),
            phases=dict(data.get("phases") or {}),
        )
