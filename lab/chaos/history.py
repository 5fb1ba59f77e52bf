"""What happened during one case: the input of every check (Jepsen-style: history in, verdict out)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lab.chaos.client_result import ConnectionResult, RunResult
from lab.chaos.evidence import Evidence
from lab.chaos.scenario import ClientRun
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


@dataclass(frozen=True)
class CanarySample:
    t: float
    latency_s: float | None  # None: the request failed (error says how)
    error: str | None = None
    keep_alive: bool = False  # a request after the first on one connection (else a fresh connection)


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


@dataclass(frozen=True)
class TargetState:
    """The target container as Docker saw it after the case."""

    running: bool
    started_at: str
    exit_code: int | None = None
    oom_killed: bool = False


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
    events: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, what the runner did)
    settled: Snapshot | None = None  # the reading the settle checks judge (lab.chaos.settle)
    settle_elapsed_s: float = 0.0  # when that reading was taken, after the settle wait began
    rounds: list[Snapshot] = field(default_factory=list)  # Scenario.rounds: the settled reading after each round
    idle_cpu: CpuWindow | None = None
    held_cpu: CpuWindow | None = None  # while the clients held their connections (Scenario.held_cpu)
    held_error: str | None = None  # why no held window was measured (the target never held them)
    target_after: TargetState | None = None
    stop_elapsed_s: float | None = None  # StopTarget: how long `docker stop` took
    after_request_error: str | None = None  # a fresh GET of the small route once the case is over; None: it worked
    probe_errors: list[str] = field(default_factory=list)
    stats_before: dict[str, Any] | None = None  # the bundled server's /__lab/stats, for cases that need it
    stats_after: dict[str, Any] | None = None
    started: float | None = None  # time.monotonic() when the events' clock started (the probe's clock too)
    evidence: Evidence | None = None  # `--capture`: what the packet capture and the syscall trace say
    phases: dict[str, float] = field(default_factory=dict)  # seconds per part of the case (lab.chaos.timing)
    on_event: Callable[[float, str], None] | None = field(default=None, repr=False, compare=False)  # live progress

    def event(self, t: float, text: str) -> None:
        self.events.append((t, text))
        if self.on_event is not None:
            self.on_event(t, text)

    def to_json(self) -> dict[str, Any]:
        def window(w: CpuWindow | None) -> dict[str, Any] | None:
            return None if w is None else {"start": w.start.to_json(), "end": w.end.to_json(),
                                           "cpu_share": round(w.cpu_share, 4)}

        return {
            "case": self.case_id, "seed": self.seed, "target": self.target, "repro": self.repro,
            "baseline": self.baseline.to_json(),
            "samples": [sample.to_json() for sample in self.samples],
            "clients": [{"run": client.run.describe(), "route": client.run.route, "command": client.command,
                         "exit_code": client.exit_code, "result": client.result.to_json() if client.result else None,
                         "stderr": client.stderr[-2000:], "replica": client.replica}
                        for client in self.clients],
            "canary": [{"t": s.t, "latency_s": s.latency_s, "error": s.error, "keep_alive": s.keep_alive}
                       for s in self.canary],
            "events": [{"t": t, "event": text} for t, text in self.events],
            "settled": self.settled.to_json() if self.settled else None,
            "settle_elapsed_s": self.settle_elapsed_s,
            "rounds": [reading.to_json() for reading in self.rounds],
            "idle_cpu": window(self.idle_cpu), "held_cpu": window(self.held_cpu), "held_error": self.held_error,
            "target_before": self.target_before.__dict__,
            "target_after": self.target_after.__dict__ if self.target_after else None,
            "stop_elapsed_s": self.stop_elapsed_s, "after_request_error": self.after_request_error,
            "probe_errors": self.probe_errors[-20:],
            "stats_before": self.stats_before, "stats_after": self.stats_after,
            "started": self.started, "evidence": self.evidence.to_json() if self.evidence else None,
            "phases": {phase: round(seconds, 3) for phase, seconds in self.phases.items()},
        }
