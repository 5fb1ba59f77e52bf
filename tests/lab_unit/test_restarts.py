"""crash fails when a process that served before the case is replaced during it (lab.chaos.model.restarts), and not
when a server starts helpers of its own."""

from __future__ import annotations

from dataclasses import replace

from lab.chaos.model.checks import judge
from lab.chaos.model.history import CaseHistory
from lab.chaos.model.restarts import SERVING_S, processes_settled
from lab.probe import Snapshot
from tests.lab_unit.histories import SCENARIO, failed, healthy, snap

MASTER, WORKER = (1, 100), (7, 150)  # started 1.0 s and 1.5 s after boot (start ticks are 1/100 s)


def at(t: float, *procs: tuple[int, int]) -> Snapshot:
    return replace(snap(t), procs=procs)


def case(*samples: Snapshot) -> CaseHistory:
    """A case from t=10 s (the baseline: master and worker, serving for 8.5 s) to its last sample."""
    return healthy(baseline=at(10.0, MASTER, WORKER), samples=list(samples[:-1]), settled=samples[-1],
                   idle_cpu=None, started=10.0)


def test_a_worker_that_dies_and_is_respawned_is_a_crash() -> None:
    respawned = (9, 1190)  # started at 11.9 s
    history = case(at(11.0, MASTER, WORKER), at(12.0, MASTER, respawned), at(13.0, MASTER, respawned),
                   at(14.0, MASTER, respawned))
    message = failed(SCENARIO, history)["crash"]
    assert "a process of the target was replaced" in message
    assert ("pid 7 (started 8.5 s before the case, gone by 2.0 s into the case) replaced by pid 9 (started 1.9 s "
            "into the case, still running at the end)") in message


def test_a_master_replaced_with_its_workers_is_a_crash_too() -> None:
    history = case(at(11.0, MASTER, WORKER), at(12.0, (20, 1150), (21, 1160)), at(14.0, (20, 1150), (21, 1160)))
    assert "(and 1 more)" in failed(SCENARIO, history)["crash"]


def test_helpers_a_server_starts_are_not_restarts() -> None:
    cgi = (30, 1150)
    # A CGI-style child per request: seen once, gone by the next reading.
    assert "crash" not in failed(SCENARIO, case(at(11.0, MASTER, WORKER), at(11.5, MASTER, WORKER, cgi),
                                                at(12.0, MASTER, WORKER), at(14.0, MASTER, WORKER)))
    # A master that starts one more worker and keeps the old ones: nothing was replaced.
    extra = (31, 1150)
    assert "crash" not in failed(SCENARIO, case(at(11.0, MASTER, WORKER), at(12.0, MASTER, WORKER, extra),
                                                at(14.0, MASTER, WORKER, extra)))


def test_a_helper_that_ends_beside_a_fresh_one_at_the_last_reading_is_no_restart() -> None:
    young_helper, fresh_helper = (40, 990), (41, 1395)  # 0.1 s old at the baseline; born just before the end
    history = healthy(baseline=at(10.0, MASTER, WORKER, young_helper), samples=[at(12.0, MASTER, WORKER)],
                      settled=at(14.0, MASTER, WORKER, fresh_helper), idle_cpu=None, started=10.0)
    assert "crash" not in failed(SCENARIO, history)


def test_readings_without_processes_judge_nothing() -> None:
    history = case(at(11.0), at(12.0), at(14.0))
    assert "crash" not in failed(SCENARIO, replace(history, baseline=at(10.0)))


def test_a_gunicorn_worker_killed_in_a_one_second_case_on_a_fresh_lab_is_a_crash() -> None:
    # Readings from the lab (gunicorn, 5 sync workers, `kill -9` of worker 12 as the clients started): the lab
    # had just come up, so the workers were 0.8 s old at the baseline; the respawned one lived 0.7 s to the end.
    workers = [(19, 206149), (20, 206156), (21, 206161), (22, 206169)]
    before = [(1, 206060), (12, 206140), *workers]
    after = [(1, 206060), *workers, (45, 206252)]
    readings = [at(t, *(before if t < 2062.5 else after)) for t in (2062.48, 2062.72, 2062.99, 2063.24)]
    history = healthy(baseline=at(2062.21, *before), samples=readings[:-1], settled=readings[-1], idle_cpu=None,
                      started=2062.22)
    assert "pid 12 (started 0.8 s before the case, gone by 0.5 s into the case) replaced by pid 45" in failed(
        SCENARIO, history)["crash"]


def test_a_server_that_replaces_workers_by_design_says_so_and_memory_leaves_it_to_crash() -> None:
    """httpd's MPM retires an idle child and starts another as the load changes: declared in its profile
    (replaces_workers), no crash. Either way the summed RSS compares different processes: memory says n/a."""
    respawned = (9, 1190)
    history = case(at(11.0, MASTER, WORKER), at(12.0, MASTER, respawned), at(13.0, MASTER, respawned),
                   at(14.0, MASTER, respawned))
    history.samples = [replace(sample, rss_bytes=sample.rss_bytes + (60 << 20)) for sample in history.samples]
    assert "crash" in failed(SCENARIO, history) and "memory_growth" not in failed(SCENARIO, history)
    by_design = replace(SCENARIO, replaces_workers="the event MPM scales its children (MaxSpareThreads)")
    verdicts = {v.check: v for v in judge(by_design, history)}
    assert verdicts["crash"].ok and "by design: the event MPM scales its children" in verdicts["crash"].message
    assert not verdicts["memory_growth"].applicable and "see crash" in verdicts["memory_growth"].message


def test_a_baseline_waits_for_processes_that_have_lived_long_enough_to_be_the_servers_own() -> None:
    # A target just started: its worker was forked 0.2 s ago. A baseline then, and a reset that kills the worker at
    # once, would leave a worker that never lived SERVING_S: its replacement would pass as a helper's.
    assert not processes_settled(at(1.5 + SERVING_S - 0.05, MASTER, WORKER))
    assert processes_settled(at(1.5 + SERVING_S, MASTER, WORKER))
    assert processes_settled(at(1.0))  # no process read (an older agent): nothing to wait for
