"""Playing one job in a lab: the single-job function behind the scheduler's workers and the pytest plugin.

A case is adapted to the run's profile, run, judged; its timeline is saved. The case results come back in
the `Result`, for the caller to write (lab.chaos.run.report.append_result) where its run keeps them.
"""

from __future__ import annotations

import functools
import shutil
import time

from lab import engine, images
from lab.chaos.model import catalog
from lab.chaos.model.adapt import Skip, adapt
from lab.chaos.model.checks import Verdict, judge, outcome
from lab.chaos.model.faults import FaultUnavailable
from lab.chaos.model.scenario import Scenario
from lab.chaos.model.zoo import BY_BUG
from lab.chaos.run import targets
from lab.chaos.run.report import CaseResult, result_of, save_timeline
from lab.chaos.run.scheduler import Job, Result, Worker
from lab.chaos.run.session import LabSession, Variant
from lab.compose import echo
from lab.profiles import Profile
from lab.run_config import RunConfig
from lab.settings import LabConfig, unique_project


@functools.cache
def target_profile(config: RunConfig) -> Profile | None:
    """The run's target profile: its profile, an image alone (ad hoc), or None (the bundled server)."""
    return targets.active_profile(config.profile, config.target_image, config.target_port)


def base_lab(config: RunConfig, **fields: object) -> LabConfig:
    """The lab the run's target needs (a profile's target fields over the run's own), then `fields`."""
    profile = target_profile(config)
    return config.lab_config(targets.config_overrides(profile) if profile is not None else None, **fields)


def server_name(config: RunConfig) -> str:
    """The name results carry for the target: the profile's, else "" (the bundled server by default)."""
    profile = target_profile(config)
    return profile.name if profile is not None else ""


def open_session(config: RunConfig, worker: str | None, *, prefix: str = "epl-chaos") -> LabSession:
    """One worker's lab session (its lab comes up with its first case), on the engine the worker's number picks;
    `prefix` tells apart the labs of one worker that judge several targets."""
    host = engine.for_worker(worker)  # workers spread over LAB_DOCKER_HOSTS
    profile = target_profile(config)
    if profile is not None:
        targets.build_image(profile)
    base = base_lab(config, project=unique_project(prefix, config.run_id, worker), docker_host=host)
    return LabSession(base, log=lambda _: None, capture=config.capture, capture_failures_only=True,
                      profile=profile, reports_dir=config.reports_dir)


def prepare_engines(config: RunConfig, workers: int) -> None:
    """Labs spread over several engines: make each worker's engine current before any case starts, as its first
    lab would. A copy there (`docker save | docker load`) beside cases already running on the other engines
    loads the host, and moves their latency verdicts."""
    if len(engine.configured_hosts()) < 2:
        return
    profile = target_profile(config)
    foreign = base_lab(config).foreign_images
    for host in dict.fromkeys(engine.for_worker(f"gw{index}") for index in range(workers)):
        with engine.using(host):
            if profile is not None:
                targets.build_image(profile)
            images.ensure_images(echo, also=foreign)


def run_in_worker(worker: Worker, job: Job) -> Result:
    """The scheduler's runner: the worker's session, made by its first job and closed when the worker ends."""
    session = worker.state.get("session")
    if session is None:
        session = worker.state["session"] = open_session(worker.config, worker.name)
        worker.on_exit(session.close)
    return run_job(session, job, worker.config, worker=worker.index)


def failure_text(verdicts: list[Verdict]) -> str:
    """The failed checks' messages, then what data the unjudged ones miss."""
    return "\n".join([f"{v.check}: {v.message}" for v in verdicts if v.failed]
                     + [f"{v.check} (missing data): {v.message}" for v in verdicts if v.missing])


class _Stop(Exception):
    """A case that ends its job early: skipped, or the lab could not play it (its record is written)."""

    def __init__(self, record: CaseResult, *, crashed: bool) -> None:
        super().__init__(record.messages[0])
        self.record = record
        self.crashed = crashed


def run_job(session: LabSession, job: Job, config: RunConfig, *, worker: int = 0) -> Result:
    """Play a job: a catalog case (pass/fail/error/skip), or a zoo variant's cases in order until one of them
    catches it (caught/MISSED/error/skip)."""
    started = time.monotonic()
    records: list[CaseResult] = []
    caught: dict[str, list[str]] = {}

    def result(word: str, message: str = "", **flags: bool) -> Result:
        return Result(job, word, tuple(records), message, seconds=time.monotonic() - started, worker=worker,
                      **flags)

    for case_id in job.cases:
        try:
            verdicts = _play(session, catalog.get(case_id), job, config, records)
        except _Stop as stop:
            return result("error" if stop.crashed else "skip", str(stop), crashed=stop.crashed)
        except Exception as error:  # judged, but its timeline could not be saved: the record is kept
            return result("error", f"{type(error).__name__}: {error}", crashed=True)
        if not job.catches:  # a catalog case
            word = outcome(verdicts)
            message = f"error, not judged: {failure_text(verdicts)}" if word == "error" else failure_text(verdicts)
            return result(word, message, unjudged=word == "error")
        # a check whose data is missing (an error) is named apart: it never counts as caught
        caught[case_id] = [v.check if v.failed else f"{v.check} (missing data)"
                           for v in verdicts if v.failed or v.missing]
        if job.catches & set(caught[case_id]):
            return result("caught")  # detected, by a check that names the symptom
    symptom = f"{job.variant.bug} ({BY_BUG[str(job.variant.bug)].symptom})"
    if any(" (missing data)" in check for checks in caught.values() for check in checks):
        return result("error", f"{symptom} was not caught, and a case could not be judged (an error, not a miss): "
                               f"failed and unjudged checks per case: {caught}", unjudged=True)
    return result("MISSED", f"{symptom} went undetected: expected one of {sorted(job.catches)} to fail; failed "
                            f"checks per case: {caught}")


def _play(session: LabSession, scenario: Scenario, job: Job, config: RunConfig,
          records: list[CaseResult]) -> list[Verdict]:
    """Run one case (adapted to the run's profile), judge it, save its timeline; its record joins `records`."""
    variant, seed, server = job.variant, job.seed, server_name(config)
    if job.skip is not None:
        _skip(scenario, variant, job.skip, seed, server, records)
    profile = session.profile
    if profile is not None:
        fitted = adapt(scenario, session.referenced(profile))  # the preflight fetches large bodies once
        if isinstance(fitted, Skip):
            _skip(scenario, variant, fitted.reason, seed, server, records)
        assert isinstance(fitted, Scenario)
        scenario = fitted
    started = time.monotonic()
    try:
        history = session.run(scenario, variant, seed, fresh=job.fresh)
    except FaultUnavailable as unavailable:  # e.g. no sch_netem in this kernel: a skip with the reason
        _skip(scenario, variant, str(unavailable), seed, server, records)
    except Exception as error:  # the lab could not run the case: a scorecard must show it, not skip it
        records.append(CaseResult(id=scenario.id, variant=variant.label, target="", outcome="error",
                                  messages=(f"{type(error).__name__}: {error}",), seed=seed,
                                  duration_s=time.monotonic() - started, bug=variant.bug, server=server,
                                  engine=engine.describe(engine.current())))
        raise _Stop(records[-1], crashed=True) from error
    judging = time.monotonic()
    verdicts = judge(scenario, history)
    if history.evidence is not None and outcome(verdicts) == "pass":
        shutil.rmtree(history.evidence.folder, ignore_errors=True)  # the suite keeps failures' and errors' only
    try:
        # A zoo variant caught by a check it is known to trip is the expected failure: its picture is drawn on
        # demand (lab.chaos.run.picture), not in every run (matplotlib: ~0.9 s of CPU a picture).
        expected = bool(job.catches) and any(v.failed and v.check in job.catches for v in verdicts)
        save_timeline(history, variant.label, verdicts, config.reports_dir, picture=not expected)
    finally:  # the result is kept even when the picture cannot be drawn
        history.phases["judge and report"] = time.monotonic() - judging
        records.append(result_of(history, variant.label, verdicts, time.monotonic() - started, variant.bug,
                                 server=server))
    return verdicts


def _skip(scenario: Scenario, variant: Variant, reason: str, seed: int, server: str,
          records: list[CaseResult]) -> None:
    records.append(CaseResult(id=scenario.id, variant=variant.label, target="", outcome="skip", messages=(reason,),
                              seed=seed or None, server=server, engine=engine.describe(engine.current())))
    raise _Stop(records[-1], crashed=False)
