"""Case results on disk: one JSON line per case, a timeline per case, a picture of failing ones."""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import engine
from lab.chaos.model import checks
from lab.chaos.model.checks import Verdict
from lab.chaos.model.history import CaseHistory
from lab.run_config import DEFAULT_REPORTS


def new_run_dir() -> Path:
    """A folder of its own for one test run, so runs never clobber each other; made on first write."""
    return DEFAULT_REPORTS / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


def _make(directory: Path) -> None:
    """Create a results folder; one under reports/runs/ becomes reports/latest."""
    if directory.is_dir():
        return
    directory.mkdir(parents=True, exist_ok=True)
    if directory.parent == DEFAULT_REPORTS / "runs":
        latest = DEFAULT_REPORTS / "latest"
        with contextlib.suppress(OSError):  # another worker may be doing the same
            latest.unlink(missing_ok=True)
            latest.symlink_to(directory.relative_to(DEFAULT_REPORTS))


@dataclass(frozen=True)
class CaseResult:
    id: str
    variant: str  # trigger (and bug) of the bundled server, or "any"
    target: str
    outcome: str  # pass, fail, skip, error (the lab could not run it, or a verdict's data is missing)
    failed_checks: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    seed: int | None = None
    duration_s: float = 0.0
    bug: str | None = None
    engine: str = ""  # the Docker engine it ran on (LAB_DOCKER_HOSTS), "local" for the environment's own
    responses_got: int | None = None  # complete responses with allowed statuses, over every client
    responses_owed: int | None = None  # what the clients' plans ask for
    plan: str = ""  # e.g. "1000×4 pipelined; 1×1 well_behaved"
    server: str = ""  # the target profile's name (the board's row); "" for the bundled server by default
    phases: dict[str, float] = field(default_factory=dict)  # where its seconds went (lab.chaos.model.timing)
    baseline_rss_bytes: int | None = None  # the target's RSS before the case (the scorecard's growth across cases)
    target_started: int | None = None  # the target process's start time (clock ticks since boot): which process

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "variant": self.variant, "target": self.target, "outcome": self.outcome,
                "failed_checks": list(self.failed_checks), "messages": list(self.messages), "seed": self.seed,
                "duration_s": round(self.duration_s, 2), "bug": self.bug, "responses_got": self.responses_got,
                "responses_owed": self.responses_owed, "plan": self.plan, "engine": self.engine,
                "server": self.server, "phases": {phase: round(s, 2) for phase, s in self.phases.items()},
                "baseline_rss_bytes": self.baseline_rss_bytes, "target_started": self.target_started}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseResult:
        return cls(id=data["id"], variant=data["variant"], target=data["target"], outcome=data["outcome"],
                   failed_checks=tuple(data["failed_checks"]), messages=tuple(data["messages"]),
                   seed=data["seed"], duration_s=data["duration_s"], bug=data.get("bug"),
                   responses_got=data.get("responses_got"), responses_owed=data.get("responses_owed"),
                   plan=data.get("plan", ""), engine=data.get("engine", ""), server=data.get("server", ""),
                   phases=dict(data.get("phases") or {}), baseline_rss_bytes=data.get("baseline_rss_bytes"),
                   target_started=data.get("target_started"))

    @property
    def counts(self) -> str:
        """Responses got / owed, e.g. "40/40"; "" when not known."""
        return "" if self.responses_owed is None else f"{self.responses_got}/{self.responses_owed}"


def result_of(history: CaseHistory, variant: str, verdicts: list[Verdict], duration_s: float,
              bug: str | None, server: str = "") -> CaseResult:
    failed = [v for v in verdicts if v.failed]
    unjudged = [v for v in verdicts if v.missing]  # their reasons are kept: an error says why it is one
    clients = history.clients
    return CaseResult(id=history.case_id, variant=variant, target=history.target,
                      outcome=checks.outcome(verdicts), failed_checks=tuple(v.check for v in failed),
                      messages=tuple(f"{v.check}: {v.message}" for v in failed)
                      + tuple(f"{v.check} (missing data): {v.message}" for v in unjudged), seed=history.seed,
                      duration_s=duration_s, bug=bug, responses_got=sum(c.responses_got() for c in clients),
                      responses_owed=sum(c.responses_owed() for c in clients),
                      plan="; ".join(c.run.plan_text() for c in clients),
                      engine=engine.describe(engine.current()), server=server, phases=dict(history.phases),
                      baseline_rss_bytes=history.baseline.rss_bytes, target_started=history.baseline.start_ticks)


def append_result(result: CaseResult, directory: Path, worker: str = "main") -> None:
    """One JSON line in the run's folder; each worker (xdist's or the scheduler's gwN) writes a file of its own."""
    _make(directory)
    with (directory / f"results-{worker}.jsonl").open("a") as handle:
        handle.write(json.dumps(result.to_json()) + "\n")


def read_results(directory: Path) -> list[CaseResult]:
    results = []
    for path in sorted(directory.glob("results-*.jsonl")):
        results += [CaseResult.from_json(json.loads(line)) for line in path.read_text().splitlines() if line]
    return results


def save_timeline(history: CaseHistory, variant: str, verdicts: list[Verdict], directory: Path, *,
                  picture: bool = True) -> Path:
    """The case's whole history as JSON, and for a failing case a picture (PNG) of fds, sockets, CPU and RSS
    (unless `picture` is False)."""
    _make(directory)
    folder = directory / "timelines"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{history.case_id}--{variant}"
    data = history.to_json() | {"verdicts": [v.__dict__ for v in verdicts]}
    path = folder / f"{stem}.json"
    path.write_text(json.dumps(data, indent=1))
    if picture and checks.outcome(verdicts) != "pass":  # a picture of an error too: where the readings stop
        from lab.chaos.run.picture import draw

        draw(data, folder / f"{stem}.png")
    return path
