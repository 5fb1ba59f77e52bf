"""The lab's own scheduler: which cases a run plays (`plan`), and playing them in worker processes, one lab
each, results streamed back as they finish (`execute`).

`lab scorecard` and `lab board` call both; the pytest plugin parametrizes over `plan` and plays each job with
the same single-job function (lab.chaos.run.play.run_job) the workers here use.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from lab import engine
from lab.chaos.model import catalog
from lab.chaos.model.adapt import Skip, adapt
from lab.chaos.model.scenario import Scenario
from lab.chaos.model.zoo import ZooEntry, clean_pairs
from lab.chaos.run.preflight import needs_preflight
from lab.chaos.run.report import CaseResult
from lab.chaos.run.session import Variant
from lab.errors import LabError
from lab.profiles import Profile
from lab.run_config import RunConfig

# A job's time beyond its clients' own bounds: bringing a lab up (images copied to a fresh engine take minutes),
# the baseline, settle and fault waits (each bounded in the runner), judging and drawing. A backstop against a
# worker that hangs, never a verdict: a case that ends at all ends far inside it.
CASE_MARGIN_S = 300.0
# A stopped worker takes its lab down (compose down: tens of seconds on a loaded engine) before it is killed.
STOP_GRACE_S = 120.0


@dataclass(frozen=True)
class Job:
    """One test of a run: a catalog case in one target variant, or a zoo variant played on its cases."""

    cases: tuple[str, ...]  # one catalog case; a zoo variant's cases, in order, until one catches it
    variant: Variant
    seed: int
    fresh: bool = False  # a fresh target process (a zoo variant, and the clean server's zoo controls)
    skip: str | None = None  # why adapt() leaves the case out for the run's profile: recorded, not played
    catches: frozenset[str] = frozenset()  # a zoo variant: caught once one of these checks fails
    heavy: bool = False
    zoo: bool = False  # part of `make zoo` / `scorecard --zoo`: a zoo variant or a zoo control
    nofile: int = 0  # the target's fd limit: jobs of one variant and limit run together (fewer reconfigures)
    budget_s: float = CASE_MARGIN_S  # the job's timeout in a worker

    @property
    def name(self) -> str:
        """Its test id: `level-slowloris`, or the bug for a zoo variant."""
        return str(self.variant.bug) if self.catches else f"{self.variant.label}-{self.cases[0]}"

    @property
    def group(self) -> tuple[str, str]:
        """Jobs sort by this: a zoo variant first (its cases are long, each on a fresh process, so it starts
        early rather than trailing the run), then one variant and fd limit together (fewer reconfigures)."""
        return ("", "0") if self.catches else (self.variant.label, str(self.nofile))


@dataclass(frozen=True)
class Result:
    """A finished job: its word (pass/fail/error/skip; a zoo variant's caught/MISSED/error/skip), the case
    results it wrote (one per case played), and what a failure says."""

    job: Job
    outcome: str
    records: tuple[CaseResult, ...] = ()
    message: str = ""
    unjudged: bool = False  # an error because a verdict's data is missing (checks.missing), not a lab failure
    crashed: bool = False  # an error because the lab could not play it (an exception, a dead or stuck worker)
    seconds: float = 0.0
    worker: int = 0


# -- plan --------------------------------------------------------------------------------------------------
def variants(scenario: Scenario, profile: Profile | None, bundled: bool, trigger: str | None = None,
             ) -> list[Variant]:
    """The target variants a case runs in: the bundled server's trigger modes (one when a profile or `trigger`
    names it), else the one image as it is."""
    if profile is not None and profile.trigger is not None:
        return [Variant(profile.trigger)]
    if not bundled:
        return [Variant()]
    return [Variant(mode) for mode in scenario.triggers if trigger is None or mode == trigger]


def budget_s(scenarios: Iterable[Scenario]) -> float:
    """Each case's clients' own bounds, all of them (in sequence, each round), plus the margin."""
    return sum(max(scenario.rounds, scenario.max_rounds) * sum(run.max_duration_s() for run in scenario.clients)
               + CASE_MARGIN_S for scenario in scenarios)


def plan(scenarios: Iterable[Scenario], seed: int, *, profile: Profile | None, bundled: bool,
         trigger: str | None = None, zoo: Iterable[ZooEntry] = ()) -> list[Job]:
    """The jobs of a run: each case in each variant (catalog order), then each zoo variant (`zoo`: the bundled
    server's broken variants; a caller judging another target passes none)."""
    controls = set(clean_pairs()) if bundled else set()
    jobs = []
    for scenario in scenarios:
        skip = None
        if profile is not None and not needs_preflight(profile):  # else adapted after the preflight, in the lab
            fitted = adapt(scenario, profile)
            skip = fitted.reason if isinstance(fitted, Skip) else None
        for variant in variants(scenario, profile, bundled, trigger):
            control = not variant.bug and (scenario.id, variant.trigger) in controls
            jobs.append(Job((scenario.id,), variant, seed, fresh=control, skip=skip, heavy=scenario.heavy,
                            zoo=control, nofile=scenario.target_nofile or 0, budget_s=budget_s([scenario])))
    for entry in zoo:
        played = [catalog.get(case) for case in entry.cases]
        jobs.append(Job(entry.cases, Variant(entry.trigger, entry.bug), seed, fresh=True, catches=entry.catches,
                        zoo=True, nofile=played[0].target_nofile or 0, budget_s=budget_s(played)))
    return jobs


def worker_count(asked: str, jobs: int) -> int:
    """--workers N, or `auto`: one per core; never more than the jobs."""
    count = (os.cpu_count() or 1) if asked == "auto" else int(asked)
    if count < 1:
        raise LabError(f"--workers {asked}: at least 1")
    return max(1, min(count, jobs))


# -- execute -----------------------------------------------------------------------------------------------
class Worker:
    """One worker process's state: its index (its engine, gwN), the run's config, and what its jobs opened
    (each closed when the worker ends, however it ends)."""

    def __init__(self, index: int, config: RunConfig) -> None:
        self.index = index
        self.config = config
        self.state: dict[str, Any] = {}  # e.g. the worker's LabSession, made by its first job
        self._closers: list[Callable[[], None]] = []

    @property
    def name(self) -> str:
        return f"gw{self.index}"  # as pytest-xdist names its workers: the same engine, the same lab names

    def on_exit(self, close: Callable[[], None]) -> None:
        self._closers.append(close)

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()


JobRunner = Callable[[Worker, Job], Result]  # module-level, so a spawned worker can import it


def error_result(job: Job, message: str, *, worker: int = 0, seconds: float = 0.0, server: str = "",
                 engine_name: str = "") -> Result:
    """A job the lab could not play: an `error` case result (for its first case), never a pass."""
    record = CaseResult(id=job.cases[0], variant=job.variant.label, target="", outcome="error", messages=(message,),
                        seed=job.seed, duration_s=seconds, bug=job.variant.bug, server=server, engine=engine_name)
    return Result(job, "error", (record,), message=message, crashed=True, seconds=seconds, worker=worker)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _worker_main(index: int, config: RunConfig, run_one: JobRunner, connection: Connection) -> None:
    # The parent owns Ctrl-C: it stops each worker with SIGTERM, which unwinds here and takes the lab down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _interrupt)
    engine.set_hosts(config.docker_hosts)
    worker = Worker(index, config)
    try:
        while True:
            job = connection.recv()
            if job is None:
                return
            started = time.monotonic()
            try:
                result = run_one(worker, job)
            except Exception as error:  # the runner's own failure is this job's error, not the run's end
                result = error_result(job, f"{type(error).__name__}: {error}", worker=index,
                                      seconds=time.monotonic() - started)
            connection.send(result)
    except (KeyboardInterrupt, EOFError):  # stopped, or the parent is gone
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one stop is enough: let the lab come down
        worker.close()


@dataclass(eq=False)
class _Slot:
    index: int
    process: BaseProcess
    connection: Connection
    job: Job | None = None
    started: float = 0.0
    deadline: float = 0.0


def _start(context: Any, index: int, config: RunConfig, run_one: JobRunner) -> _Slot:
    parent, child = context.Pipe()
    process = context.Process(target=_worker_main, args=(index, config, run_one, child), name=f"lab-worker-{index}",
                              daemon=True)
    process.start()
    child.close()
    return _Slot(index, process, parent)


def _stop(slots: Iterable[_Slot], grace_s: float) -> None:
    """SIGTERM each live worker (it takes its lab down), then kill what is left after `grace_s`."""
    slots = list(slots)
    for slot in slots:
        if slot.process.is_alive():
            with contextlib.suppress(OSError):
                slot.process.terminate()
    deadline = time.monotonic() + grace_s
    for slot in slots:
        slot.process.join(max(0.0, deadline - time.monotonic()))
        if slot.process.is_alive():
            slot.process.kill()
            slot.process.join(5)
        slot.connection.close()


def _dispatch(slot: _Slot, pending: deque[Job]) -> None:
    slot.job = pending.popleft() if pending else None
    if slot.job is not None:
        slot.started = time.monotonic()
        slot.deadline = slot.started + slot.job.budget_s
        slot.connection.send(slot.job)


def execute(jobs: Sequence[Job], config: RunConfig, workers: int, on_result: Callable[[Result], None],
            run_one: JobRunner | None = None, *, server: str = "", stop_grace_s: float = STOP_GRACE_S,
            ) -> list[Result]:
    """Play `jobs` in `workers` processes (one lab each, made lazily by the runner), jobs of one variant
    together; `on_result` sees each result in this process as it finishes. A worker that dies or overruns its
    job's budget makes that job an `error` and is replaced; an interrupt stops every worker, labs taken down."""
    engine.set_hosts(config.docker_hosts)
    pending = deque(sorted(jobs, key=lambda job: job.group))
    if not pending:
        return []
    workers = max(1, min(workers, len(pending)))
    if run_one is None:
        from lab.chaos.run.play import prepare_engines, run_in_worker

        prepare_engines(config, workers)
        run_one = run_in_worker
    context = multiprocessing.get_context("spawn")  # no fork of a process holding Docker clients and threads
    slots = [_start(context, index, config, run_one) for index in range(workers)]
    results: list[Result] = []

    def finish(slot: _Slot, result: Result) -> None:
        results.append(result)
        on_result(result)
        _dispatch(slot, pending)

    def lost(slot: _Slot, why: str) -> None:
        assert slot.job is not None
        seconds = time.monotonic() - slot.started
        result = error_result(slot.job, why, worker=slot.index, seconds=seconds, server=server,
                              engine_name=engine.describe(engine.for_worker(f"gw{slot.index}")))
        _stop([slot], stop_grace_s)
        slot.job = None
        if pending:  # a fresh worker on the same engine, with a fresh lab
            position = slots.index(slot)
            slot = slots[position] = _start(context, slot.index, config, run_one)
        finish(slot, result)

    try:
        for slot in slots:
            _dispatch(slot, pending)
        while busy := [slot for slot in slots if slot.job is not None]:
            timeout = max(0.0, min(slot.deadline for slot in busy) - time.monotonic())
            wait([slot.connection for slot in busy] + [slot.process.sentinel for slot in busy], timeout)
            for slot in busy:
                assert slot.job is not None
                if slot.connection.poll():
                    try:
                        result = slot.connection.recv()
                    except (EOFError, OSError):
                        lost(slot, f"worker gw{slot.index} died while playing {slot.job.name}")
                        continue
                    finish(slot, result)
                elif not slot.process.is_alive():
                    lost(slot, f"worker gw{slot.index} died (exit {slot.process.exitcode}) while playing "
                               f"{slot.job.name}")
                elif time.monotonic() >= slot.deadline:
                    lost(slot, f"{slot.job.name} did not finish within its {slot.job.budget_s:.0f} s budget")
        for slot in slots:
            with contextlib.suppress(OSError):
                slot.connection.send(None)  # done: each worker takes its lab down and ends
        deadline = time.monotonic() + stop_grace_s
        for slot in slots:
            slot.process.join(max(0.0, deadline - time.monotonic()))
    finally:
        _stop(slots, stop_grace_s)  # on an interrupt, an error, or a worker that would not end
    return results
