"""The lab's scheduler without Docker: which jobs a run plans, and how workers play them (a fake single-job
runner stands in for the lab)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lab.chaos.model import catalog
from lab.chaos.model.adapt import Skip, adapt
from lab.chaos.model.catalog import CATALOG
from lab.chaos.model.zoo import ZOO, clean_pairs
from lab.chaos.run.report import CaseResult
from lab.chaos.run.scheduler import CASE_MARGIN_S, Job, Result, Worker, budget_s, execute, plan
from lab.chaos.run.session import Variant
from lab.chaos.views.commands import scorecard_jobs
from lab.cli import build_parser
from lab.profiles import find_profile
from lab.run_config import RunConfig


# -- plan ----------------------------------------------------------------------------------------------------
def test_the_bundled_server_plays_each_case_in_each_of_its_modes_with_the_run_seed() -> None:
    jobs = plan(CATALOG, 41, profile=None, bundled=True)
    assert [job.name for job in jobs] == [f"{mode}-{s.id}" for s in CATALOG for mode in s.triggers]
    assert {job.seed for job in jobs} == {41} and not any(job.skip for job in jobs)
    heavy = {s.id for s in CATALOG if s.heavy}
    assert {job.cases[0] for job in jobs if job.heavy} == heavy and heavy


def test_the_clean_servers_zoo_controls_run_fresh_and_only_they() -> None:
    jobs = plan(CATALOG, 1, profile=None, bundled=True)
    controls = {(job.cases[0], job.variant.trigger) for job in jobs if job.fresh}
    assert controls == set(clean_pairs()) and all(job.zoo == job.fresh for job in jobs)
    assert not any(job.fresh for job in plan(CATALOG, 1, profile=None, bundled=False))  # no zoo for an image


def test_a_profile_without_a_trigger_plays_each_case_once_with_adapts_skip_reasons() -> None:
    nginx = find_profile("nginx")
    jobs = plan(CATALOG, 3, profile=nginx, bundled=False)
    assert [job.name for job in jobs] == [f"any-{s.id}" for s in CATALOG]
    for job, scenario in zip(jobs, CATALOG, strict=True):
        fitted = adapt(scenario, nginx)
        assert job.skip == (fitted.reason if isinstance(fitted, Skip) else None)
    assert any(job.skip for job in jobs)


def test_a_profile_of_the_bundled_server_names_its_mode_and_trigger_picks_one() -> None:
    jobs = plan(CATALOG, 3, profile=find_profile("server-edge"), bundled=True)
    assert {job.variant for job in jobs} == {Variant("edge")}
    picked = plan([catalog.get("slowloris"), catalog.get("pipelined")], 3, profile=None, bundled=True,
                  trigger="level")
    assert [job.name for job in picked] == ["level-slowloris", "level-pipelined"]


def test_a_zoo_variant_is_one_fresh_job_over_its_cases() -> None:
    jobs = plan([], 9, profile=None, bundled=True, zoo=ZOO)
    assert [job.name for job in jobs] == [entry.bug for entry in ZOO]
    for job, entry in zip(jobs, ZOO, strict=True):
        assert (job.cases, job.variant, job.catches, job.fresh, job.zoo, job.seed) == (
            entry.cases, Variant(entry.trigger, entry.bug), entry.catches, True, True, 9)
        assert job.variant.label == f"{entry.trigger}-{entry.bug}"


def test_zoo_variants_start_first_then_jobs_of_one_variant_run_together() -> None:
    jobs = plan([catalog.get("slowloris"), catalog.get("fd_exhaustion")], 1, profile=None, bundled=True, zoo=ZOO[:2])
    ordered = [job.name for job in sorted(jobs, key=lambda job: job.group)]
    assert ordered[:2] == [ZOO[0].bug, ZOO[1].bug]
    assert ordered[2:] == ["edge-slowloris", "edge-fd_exhaustion", "level-slowloris", "level-fd_exhaustion"]


def test_a_jobs_budget_is_its_clients_bounds_plus_the_margin() -> None:
    slowloris = catalog.get("slowloris")
    clients_s = sum(run.max_duration_s() for run in slowloris.clients)
    assert budget_s([slowloris]) == pytest.approx(clients_s + CASE_MARGIN_S)
    assert plan([slowloris], 1, profile=None, bundled=True)[0].budget_s == budget_s([slowloris])


# -- execute, with a fake runner (module level: spawned workers import it) -----------------------------------------
def fake_runner(worker: Worker, job: Job) -> Result:
    """Plays `ok-*` at once, `slow-*` in 0.3 s, `after-hang` once `hang` has started, `until-reported-CASE` once the
    parent has reported CASE's result (its message says whether it saw that); `crash` kills the worker,
    `hang` outlasts its budget, `raise` raises; each worker's 'session' (opened on its first job) leaves a file
    when it is closed."""
    if "session" not in worker.state:
        worker.state["session"] = True
        worker.on_exit(lambda: (worker.config.reports_dir / f"closed-{worker.name}-{os.getpid()}").touch())
    case = job.cases[0]
    started = worker.config.reports_dir / f"started-{case}"
    started.touch()
    if case == "after-hang":  # returns once another worker plays `hang` (bounded: never waits forever)
        deadline = time.monotonic() + 20
        while not (worker.config.reports_dir / "started-hang").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    message = ""
    if case.startswith("until-reported-"):  # bounded too: a scheduler that held results back would time out
        reported = worker.config.reports_dir / f"reported-{case.removeprefix('until-reported-')}"
        deadline = time.monotonic() + 20
        while not reported.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        message = "saw it reported" if reported.exists() else "timed out"
    if case == "crash":
        os._exit(3)
    if case == "hang" or case.startswith("slow"):
        time.sleep(60 if case == "hang" else 0.3)
    if case == "raise":
        raise RuntimeError("the runner broke")
    record = CaseResult(id=case, variant=job.variant.label, target="t", outcome="pass", seed=job.seed)
    return Result(job, "pass", (record,), message=message, worker=worker.index)


def job(case: str, trigger: str = "level", budget: float = 30.0) -> Job:
    return Job((case,), Variant(trigger), 7, budget_s=budget)


def run_config(tmp_path: Path) -> RunConfig:
    return RunConfig(seed=7, reports_dir=tmp_path)


def test_jobs_of_one_variant_run_together_and_each_result_is_streamed_as_it_finishes(tmp_path: Path) -> None:
    seen: list[tuple[str, float]] = []
    jobs = [job("ok-1", "level"), job("ok-2", "edge"), job("ok-3", "level")]
    results = execute(jobs, run_config(tmp_path), 1, lambda r: seen.append((r.job.cases[0], time.monotonic())),
                      fake_runner, stop_grace_s=10)
    assert [r.job.cases[0] for r in results] == ["ok-2", "ok-1", "ok-3"]  # edge before level, then plan order
    assert [case for case, _ in seen] == ["ok-2", "ok-1", "ok-3"]
    assert all(r.outcome == "pass" and r.records[0].seed == 7 for r in results)
    assert len(list(tmp_path.glob("closed-gw0-*"))) == 1  # one session for the worker, closed when it ended


def test_results_stream_while_other_workers_still_play(tmp_path: Path) -> None:
    """A job still playing sees an earlier job's result reported: results are not held back until the end. (Timed
    by the clock instead, this failed on a loaded machine, where one spawned worker started a second after the
    other.)"""
    jobs = [job("ok-fast"), job("slow-1"), job("until-reported-ok-fast")]

    def finished(result: Result) -> None:
        (tmp_path / f"reported-{result.job.cases[0]}").touch()

    results = {r.job.cases[0]: r for r in execute(jobs, run_config(tmp_path), 2, finished, fake_runner,
                                                  stop_grace_s=10)}
    assert set(results) == {"ok-fast", "slow-1", "until-reported-ok-fast"}
    assert results["until-reported-ok-fast"].message == "saw it reported"
    assert {path.name.split("-")[1] for path in tmp_path.glob("closed-*")} == {"gw0", "gw1"}


def test_a_worker_that_dies_makes_its_job_an_error_and_the_rest_still_play(tmp_path: Path) -> None:
    jobs = [job("ok-1"), job("crash"), job("ok-2"), job("ok-3")]
    results = {r.job.cases[0]: r for r in execute(jobs, run_config(tmp_path), 1, lambda r: None, fake_runner,
                                                  stop_grace_s=10)}
    assert set(results) == {"ok-1", "crash", "ok-2", "ok-3"}
    crashed = results["crash"]
    assert (crashed.outcome, crashed.crashed, crashed.records[0].outcome) == ("error", True, "error")
    assert "died" in crashed.message and crashed.records[0].seed == 7 and crashed.records[0].id == "crash"
    assert all(results[case].outcome == "pass" for case in ("ok-1", "ok-2", "ok-3"))


def test_a_job_past_its_budget_is_an_error_not_a_hang(tmp_path: Path) -> None:
    began = time.monotonic()
    results = execute([job("hang", budget=1.0), job("ok-1")], run_config(tmp_path), 1, lambda r: None,
                      fake_runner, stop_grace_s=10)
    assert time.monotonic() - began < 30  # the hang sleeps 60 s
    by_case = {r.job.cases[0]: r for r in results}
    assert by_case["hang"].outcome == "error" and "budget" in by_case["hang"].message
    assert by_case["ok-1"].outcome == "pass"
    assert list(tmp_path.glob("closed-gw0-*"))  # the stopped worker still closed its session


def test_a_runner_that_raises_is_that_jobs_error(tmp_path: Path) -> None:
    (result,) = execute([job("raise")], run_config(tmp_path), 1, lambda r: None, fake_runner, stop_grace_s=10)
    assert (result.outcome, result.crashed) == ("error", True) and "the runner broke" in result.message


def test_an_interrupt_stops_every_worker_and_each_closes_its_session(tmp_path: Path) -> None:
    def interrupt(result: Result) -> None:
        raise KeyboardInterrupt  # as Ctrl-C in the parent, while the other worker plays a long job

    with pytest.raises(KeyboardInterrupt):
        execute([job("after-hang"), job("hang"), job("ok-2")], run_config(tmp_path), 2, interrupt, fake_runner,
                stop_grace_s=20)
    assert (tmp_path / "started-hang").exists() and not (tmp_path / "started-ok-2").exists()
    assert {path.name.split("-")[1] for path in tmp_path.glob("closed-*")} == {"gw0", "gw1"}


def test_no_jobs_start_no_workers(tmp_path: Path) -> None:
    assert execute([], run_config(tmp_path), 4, lambda r: None, fake_runner) == []


# -- the scorecard's jobs ------------------------------------------------------------------------------------
def card_jobs(*words: str, env: dict[str, str] | None = None) -> list[Job]:
    args = build_parser().parse_args(["scorecard", *words])
    return scorecard_jobs(args, RunConfig.from_args(args, env or {}, trigger=None))


def test_the_scorecard_plays_the_catalog_some_cases_or_the_zoo_and_its_controls() -> None:
    assert len(card_jobs("--seed", "2")) == sum(len(s.triggers) for s in CATALOG)  # heavy ones too, as before
    assert [j.name for j in card_jobs("--cases", "slowloris,pipelined", "--trigger", "edge")] == [
        "edge-slowloris", "edge-pipelined"]
    zoo = card_jobs("--zoo", "--seed", "4")
    assert {j.name for j in zoo if j.catches} == {entry.bug for entry in ZOO}
    assert {(j.cases[0], j.variant.trigger) for j in zoo if not j.catches} == set(clean_pairs())
    assert {j.seed for j in zoo} == {4}
    assert card_jobs("--zoo", env={"LAB_TARGET_IMAGE": "someone/server:1"}) == []  # the zoo breaks the bundled one
    assert [j.name for j in card_jobs("--cases", "garbage", "--profile", "nginx")] == ["any-garbage"]
