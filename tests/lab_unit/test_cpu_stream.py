"""cpu_spin over the whole stream of readings (lab.chaos.model.cpu_stream): loops that dodged the old windows fail,
housekeeping bursts and busy work within the budget pass, and a dead stream is an error, never a pass."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lab.chaos.model import cpu_stream
from lab.chaos.model.checks import cpu_spin, outcome
from lab.chaos.model.history import CanarySample, CaseHistory, CpuWindow
from lab.chaos.model.scenario import Expect, HeldCpu, Scenario, client
from lab.probe import Snapshot
from tests.lab_unit.histories import SCENARIO, answered, healthy

NS = 1_000_000_000
STEP = 0.25  # the runner's SAMPLE_INTERVAL_S
MiB = 1 << 20
HOLD = client("flood", connections=3, hold_s=8, idle=True, expect=Expect(responses=0, statuses=None))


def reading(t: float, cpu_s: float, net: int, wakeups: int, *, established: int = 0, rx: int = 0) -> Snapshot:
    return Snapshot(t=t, pids=(1,), fds=8 + established, fd_kinds={}, tcp={"LISTEN": 1, "ESTABLISHED": established},
                    cpu_ticks=round(cpu_s * NS), clk_tck=NS, rss_bytes=14 << 20, start_ticks=5, io_bytes=0,
                    wakeups=wakeups, procs=((1, 5),), net_bytes=net, rx_queued=rx)


def readings(shares: list[float], *, bytes_per_s: float | list[float] = 0.0, wakeups_per_s: float = 1.0,
             step: float = STEP, established: int = 0) -> list[Snapshot]:
    """The baseline at t=0, then one reading per `step` whose interval used shares[i] of a core."""
    rates = bytes_per_s if isinstance(bytes_per_s, list) else [bytes_per_s] * len(shares)
    cpu = net = wakeups = 0.0
    result = [reading(0.0, 0.0, 0, 0)]
    for number, share in enumerate(shares, 1):
        cpu += share * step
        net += rates[number - 1] * step
        wakeups += wakeups_per_s * step
        result.append(reading(number * step, cpu, int(net), int(wakeups), established=established))
    return result


def history_of(stream: list[Snapshot], **changes: object) -> CaseHistory:
    """A case whose probe stream is `stream` (the baseline first), started at t=0 and over at its last reading."""
    values: dict[str, object] = {"baseline": stream[0], "samples": stream[1:-1], "settled": stream[-1],
                                 "idle_cpu": None, "started": 0.0}
    values.update(changes)
    return healthy(**values)


def verdict(history: CaseHistory, scenario: Scenario = SCENARIO) -> tuple[str, str]:
    judged = cpu_spin(scenario, history)
    return outcome([judged]), judged.message


def idle_window(stream: list[Snapshot], seconds: float = 0.5) -> CpuWindow:
    """The old 0.5 s window after the case: the stream's last readings."""
    return CpuWindow(stream[-1 - round(seconds / STEP)], stream[-1])


# -- loops that dodged the windows fail ---------------------------------------------------------------------------
def test_an_epoll_timeout_floored_to_whole_seconds_spins_the_last_second_before_each_deadline() -> None:
    # 100 % of a core for the last 1 s of every 5 s, 20 s long, while a slowloris trickle (600 B/s) flows.
    shares = [1.0 if (i % 20) >= 16 else 0.0 for i in range(80)] + [0.0, 0.0]
    stream = readings(shares, bytes_per_s=600.0)
    result, message = verdict(history_of(stream, idle_cpu=idle_window(stream)))
    assert result == "fail", message
    assert "spun with no client traffic at 4.00-5.00 s (1.00 s with no client traffic)" in message
    assert "100% of a core" in message and "(and 3 more such stretches)" in message


def test_a_1ms_polling_loop_fails_on_its_wakeups_though_its_share_is_small() -> None:
    stream = readings([0.02] * 40, wakeups_per_s=1000.0)
    result, message = verdict(history_of(stream, idle_cpu=idle_window(stream)))
    assert result == "fail", message
    assert "woke with no client traffic" in message and "1000 wakeups/s" in message


def test_a_spin_that_starts_late_in_a_hold_fails() -> None:
    # Three connections held from 0.25 s to 9 s: quiet for the first window, then a spin from 6 s to the end of
    # the hold; after it, quiet again (the old idle window saw 0 %).
    shares = [0.01] * 23 + [0.9] * 13 + [0.0] * 8
    stream = readings(shares, established=3)
    history = history_of(stream, clients=[answered(HOLD)], held_cpu=CpuWindow(stream[2], stream[6]),
                         idle_cpu=idle_window(stream))
    result, message = verdict(history, replace(SCENARIO, clients=(HOLD,), held_cpu=HeldCpu(3)))
    assert result == "fail", message
    assert "spun with no client traffic at 5.75-9.00 s" in message


def test_a_thread_that_spins_then_exits_is_caught_by_the_intervals_it_spun_in() -> None:
    # A worker thread spins for 2 s and exits; the agent keeps its CPU (the total stays flat after), and even a
    # total that drops when a process goes (a reaped helper) judges the intervals before by what they used.
    stream = readings([0.0] * 4 + [1.0] * 8 + [0.0] * 8)
    dropped = [*stream[:13], *(replace(r, cpu_ticks=r.cpu_ticks - 2 * NS) for r in stream[13:])]
    for case in (stream, dropped):
        result, message = verdict(history_of(case, idle_cpu=idle_window(case)))
        assert result == "fail", message
        assert "at 1.00-3.00 s" in message


# -- housekeeping and work pass --------------------------------------------------------------------------------
def test_a_100ms_garbage_collection_is_a_burst_not_a_spin() -> None:
    # 100 ms of CPU inside the old 0.5 s idle window (20 % of it): the old check failed a correct server here.
    shares = [0.0] * 20 + [0.2, 0.2]
    stream = readings(shares)
    assert verdict(history_of(stream, idle_cpu=idle_window(stream)))[0] == "pass"
    # The same burst straddling two readings 0.6 s apart (a costly reading spaces them out).
    slow = readings([0.0] * 8 + [0.09, 0.08, 0.0], step=0.6)
    assert verdict(history_of(slow, idle_cpu=CpuWindow(slow[-4], slow[-2])))[0] == "pass"


def test_one_late_reading_s_interval_of_wakeups_is_a_burst_not_a_spin() -> None:
    """`make test` on 5223d44, rust-unlike idle_connections_2000: the tail of 2,000 connections' work (745
    wakeups: threads answering and going idle) fell in one interval that a late reading stretched to 0.81 s, and
    920 wakeups/s over 0.81 s read as a spin. One interval cannot show that anything in it lasted; a loop that
    polls every 1 ms for as long still fails, over the three readings that show it."""
    burst = [*readings([0.0] * 4, wakeups_per_s=150), reading(1.81, 0.06, 0, 150 + 745)]
    burst += [reading(1.81 + step * STEP, 0.06, 0, 895 + 50 * step) for step in range(1, 5)]
    assert verdict(history_of(burst))[0] == "pass"
    poll = [*readings([0.05] * 4, wakeups_per_s=150),
            *(reading(1.0 + step * 0.27, 0.05 + 0.0135 * step, 0, round(150 + 270 * step)) for step in range(1, 4))]
    poll += [reading(1.81 + step * STEP, 0.1, 0, 960 + 50 * step) for step in range(1, 5)]
    result, message = verdict(history_of(poll))
    assert result == "fail" and "wakeups/s" in message, message


def test_a_timer_that_fires_every_second_passes() -> None:
    # A heartbeat each second doing 30 ms of work: 12 % of the interval it lands in, 6 % of the old idle window.
    shares = [0.12 if i % 4 == 1 else 0.0 for i in range(40)]
    stream = readings(shares, wakeups_per_s=1.0)
    result, message = verdict(history_of(stream, idle_cpu=CpuWindow(stream[-4], stream[-2])))
    assert result == "pass", message
    assert "worst quiet stretch at 8.25-8.50 s" in message and "whole case:" in message


def test_busy_intervals_moving_mib_pass_within_the_budget_and_a_spin_among_them_does_not() -> None:
    # Three connections held while 4 MiB/s flows for 4 s at 50 % of a core (the old held window's bound was 5 %).
    run = client("slow_reader", connections=3, response_bytes=16 * MiB, expect=Expect(responses=0, statuses=None))
    scenario = replace(SCENARIO, clients=(run,), held_cpu=HeldCpu(3))
    shares = [0.0] * 4 + [0.5] * 16 + [0.0] * 8
    moving = [0.0] * 4 + [4.0 * MiB] * 16 + [0.0] * 8
    stream = readings(shares, bytes_per_s=moving, established=3)
    history = history_of(stream, clients=[answered(run)], held_cpu=CpuWindow(stream[8], stream[12]))
    result, message = verdict(history, scenario)
    assert result == "pass", message
    assert "16.0 MiB" in message
    # The same bytes while the loop spins flat out for 20 s (EPOLLOUT on a full buffer): over the budget.
    spinning = readings([0.0] * 4 + [1.0] * 80 + [0.0] * 8, bytes_per_s=[0.0] * 4 + [0.8 * MiB] * 80 + [0.0] * 8,
                        established=3)
    result, message = verdict(history_of(spinning, clients=[answered(run)]), scenario)
    assert result == "fail", message
    assert "more CPU than the case's work explains" in message


def test_canary_requests_are_allowed_their_bytes_cpu_and_wakeups() -> None:
    # 20 requests a second (the canary's 50 ms) at 2 ms each: 4 % + 5 % of a core, ~40 KiB/s, 100 wakeups/s.
    stream = readings([0.09] * 40, bytes_per_s=40_000.0, wakeups_per_s=100.0)
    canary = [CanarySample(0.01 + i * 0.05, 0.002) for i in range(200)]
    history = history_of(stream, canary=canary, idle_cpu=CpuWindow(stream[-3], stream[-1]))
    assert verdict(history)[0] == "pass"
    # The same CPU with neither the canary nor its bytes: quiet time at 9 % of a core for 10 s, a spin.
    silent = history_of(readings([0.09] * 40, wakeups_per_s=100.0))
    assert "spun with no client traffic at 0.00-10.00 s" in verdict(silent)[1]


# -- missing data ------------------------------------------------------------------------------------------------
def test_a_dead_stream_is_an_error_never_a_pass() -> None:
    stream = readings([0.0] * 12)
    # The stream ended at 3 s; the settle wait's reading came the slow way at 15 s. The old idle window passed.
    late = reading(15.0, 0.0, 0, 3)
    dead = history_of([*stream, late], idle_cpu=CpuWindow(stream[-3], stream[-1]))
    result, message = verdict(dead)
    assert result == "error" and "the probe stream has a gap from 3.0 s to 15.0 s" in message
    result, message = verdict(history_of(stream, settled=None, idle_cpu=CpuWindow(stream[-3], stream[-1])))
    assert result == "error" and "the probe stream ended at t=3.0 s, with no reading after the case" in message
    assert verdict(history_of(stream[:2]))[0] == "error"


def test_unreadable_bytes_fall_back_to_the_whole_case_budget_and_say_so() -> None:
    stream = [replace(r, net_bytes=-1, io_bytes=-1) for r in readings([0.02] * 40, wakeups_per_s=1000.0)]
    result, message = verdict(history_of(stream))
    assert result == "pass" and "quiet time not judged, the whole-case budget only" in message
    spinning = [replace(r, net_bytes=-1, io_bytes=-1) for r in readings([1.0] * 40)]
    assert verdict(history_of(spinning))[0] == "fail"


@pytest.mark.parametrize(("wakeups_per_s", "spins"), [(100.0, False), (300.0, False), (500.0, True)])
def test_wakeups_a_timer_wheel_makes_pass_and_a_2ms_poll_fails(wakeups_per_s: float, spins: bool) -> None:
    # A 100 Hz wheel (300/s with strace stopping it at each syscall, under --capture); a 2 ms poll makes 500.
    stream = readings([0.01] * 40, wakeups_per_s=wakeups_per_s)
    result, message = verdict(history_of(stream))
    assert (result == "fail") is spins, message


def test_a_spin_that_gets_a_fifth_of_a_core_on_a_loaded_machine_still_fails_in_a_second() -> None:
    stream = readings([0.0] * 8 + [0.2] * 4 + [0.0] * 8)  # 0.15 s of CPU over the 5 % bound in 1 s
    result, message = verdict(history_of(stream))
    assert result == "fail" and "at 2.00-3.00 s" in message, message


def test_input_parsed_from_the_receive_queue_is_work_and_input_left_unread_is_not() -> None:
    # tiny_chunks: a 7 MB body arrives within 1 s into the kernel's buffers, then the server reads and parses it
    # for 5 s at 50 % of a core with nothing on the wire, its receive queue draining.
    arrived = readings([0.3] * 4, bytes_per_s=7_000_000.0, established=1)
    queue = [7_000_000 - 350_000 * i for i in range(21)]
    cpu, net = arrived[-1].cpu_seconds, arrived[-1].net_bytes
    parsing = [reading(1.0 + 0.25 * i, cpu + 0.125 * i, net, 0, established=1, rx=queue[i]) for i in range(1, 21)]
    body = [*arrived[:-1], replace(arrived[-1], rx_queued=queue[0]), *parsing]
    after = [reading(6.0 + 0.25 * i, body[-1].cpu_seconds, net, 0) for i in range(1, 5)]
    assert verdict(history_of([*body, *after]))[0] == "pass"
    # A loop that spins on EPOLLIN without reading: the queue stays full, nothing drains, it is quiet time.
    stuck = [replace(r, rx_queued=queue[0]) for r in parsing]
    result, message = verdict(history_of([*body[:5], *stuck, *after]))
    assert result == "fail" and "spun with no client traffic at 1.00-" in message, message


# -- after the case: a window shorter than a spin, read on when it looks like one -------------------------------
def canary_masked_poll(after_case_readings: int) -> CaseHistory:
    """A 1 ms polling loop slowed to 800 wakeups/s on a loaded machine, under canary requests every 25 ms for 2 s
    (their allowance hides it), then `after_case_readings` quiet readings after the clients are done: the
    poll_1ms variant a CI run of 2026-12-06 missed."""
    during = readings([0.03] * 8, bytes_per_s=26_000.0, wakeups_per_s=800.0)
    cpu, net, wakeups = during[-1].cpu_seconds, during[-1].net_bytes, during[-1].wakeups
    after = [reading(2.0 + n * STEP, cpu + 0.005 * n, net, wakeups + 200 * n)
             for n in range(1, after_case_readings + 1)]
    canary = [CanarySample(0.01 + i * 0.025, 0.003) for i in range(80)]
    return history_of([*during, *after], canary=canary)


def test_a_spin_that_outlives_the_case_is_read_on_until_it_can_be_judged() -> None:
    masked = canary_masked_poll(2)  # the 0.5 s window alone: under SUSTAINED_S, the loop passed
    assert verdict(masked)[0] == "pass"
    assert masked.settled is not None
    until = cpu_stream.watch_after_case_until(masked, [masked.baseline, *masked.samples, masked.settled], 2.0, STEP)
    assert until == pytest.approx(2.0 + cpu_stream.SUSTAINED_S + STEP)
    result, message = verdict(canary_masked_poll(4))  # read on to 3.0 s, as the runner does
    assert result == "fail" and "woke with no client traffic at 2.00-3.00 s" in message, message


def test_a_quiet_end_of_case_is_not_read_on() -> None:
    stream = readings([0.5] * 8 + [0.0] * 2, bytes_per_s=[100_000.0] * 8 + [0.0] * 2)
    assert cpu_stream.watch_after_case_until(history_of(stream), stream, 2.0, STEP) is None


def test_a_respawned_worker_s_start_up_is_not_over_the_budget_but_a_spin_beside_it_still_fails() -> None:
    """gunicorn slowloris_through_loss (board, seed 4247): the master killed its 5 sync workers at their timeout
    and forked 5 more; their start-up (378 % of a core for 0.17 s, summed) put the case at 126 % of its budget.
    That is crash's finding, not a spin. A stretch with no traffic is still judged."""
    # Start ticks are 1/100 s after boot, on the readings' clock: the case runs from t=100 s.
    master, worker, respawned = (1, 100), (7, 150), (9, 10_100)  # the last started 1 s into the case

    def with_procs(stream: list[Snapshot]) -> list[Snapshot]:
        return [replace(r, t=r.t + 100, procs=(master, worker) if r.t < 1.0 else (master, respawned))
                for r in stream]

    busy = with_procs([replace(r, net_bytes=-1, io_bytes=-1) for r in readings([1.0] * 40)])
    result, message = verdict(history_of(busy, started=100.0))
    assert result == "pass" and "whole-case budget not judged" in message and "was replaced" in message, message
    same_processes = [replace(r, procs=(master, worker)) for r in busy]
    assert verdict(history_of(same_processes, started=100.0))[0] == "fail"  # no replacement: over its budget
    spinning = with_procs(readings([0.0] * 8 + [1.0] * 8 + [0.0] * 8))  # a second at a whole core, no traffic
    assert verdict(history_of(spinning, started=100.0))[0] == "fail"
