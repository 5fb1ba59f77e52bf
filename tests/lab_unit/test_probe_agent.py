"""The probe agent: its CPU measure (nanoseconds from the scheduler, fine enough for a half-second window) and
its stream of readings."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from lab.probe import STREAM_KILLED_S, STREAM_STOP_S, Snapshot, Timeline
from lab.probe_agent import agent


@pytest.mark.skipif(not agent.HAS_SCHEDSTAT, reason="this kernel has no schedstat")
def test_cpu_is_counted_in_nanoseconds_and_sees_a_few_milliseconds_of_work() -> None:
    before, rss, per_second = agent.cpu_and_rss([os.getpid()])
    assert per_second == 1_000_000_000 and rss > 0
    busy_until = time.thread_time() + 0.02
    while time.thread_time() < busy_until:  # 20 ms of CPU: two 10 ms ticks, 20,000,000 ns
        pass
    after, _, _ = agent.cpu_and_rss([os.getpid()])
    assert 15_000_000 <= after - before <= 500_000_000


def test_a_process_that_is_gone_counts_nothing() -> None:
    assert agent.cpu_and_rss([2**22 + 12345])[:2] == (0, 0)


def test_a_stream_of_readings_ends_when_the_host_closes_its_stdin() -> None:
    # The lab's Timeline runs this agent in the probe; here it reads the host's /proc, which has the same form.
    with Timeline([sys.executable, agent.__file__, "watch", "--interval", "0.05", "--duration", "60",
                   "--until-eof"]) as timeline:
        assert timeline.wait_for(lambda readings: len(readings) >= 3, timeout=20)
        closing = time.monotonic()
    assert time.monotonic() - closing < STREAM_STOP_S / 2  # the agent saw EOF: it was not killed after a wait
    assert timeline.errors == []
    times = [reading.t for reading in timeline.samples]
    assert times == sorted(times) and times[-1] - times[0] >= 0.05 * 2 * 0.9
    count = len(timeline.samples)
    assert timeline.wait_for(lambda readings: len(readings) > count, timeout=0.3) is False  # the stream ended


def test_the_agent_without_until_eof_ignores_stdin_and_stops_at_its_duration() -> None:
    # On a loaded machine a reading of the host's /proc costs up to a few tenths of a second; the agent then
    # spaces its readings out (twice the cost): 3 s leaves room for two at least.
    done = subprocess.run([sys.executable, agent.__file__, "watch", "--interval", "0.05", "--duration", "3"],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=True)
    assert len(done.stdout.splitlines()) >= 2


def _stream_that_never_ends() -> list[str]:
    """Like `docker exec -i` into a probe that went down with its target: readings, then a client that hangs."""
    return ["sh", "-c", f"{sys.executable} {agent.__file__} watch --interval 0.05 --duration 0.1; exec sleep 60"]


@pytest.mark.parametrize("gone", [False, True])
def test_a_stream_that_will_not_end_is_killed_at_once_when_the_target_is_gone_else_after_a_wait(gone: bool) -> None:
    with Timeline(_stream_that_never_ends()) as timeline:
        assert timeline.wait_for(lambda readings: len(readings) >= 1, timeout=20)
        if gone:
            timeline.target_gone()
        closing = time.monotonic()
    took = time.monotonic() - closing
    assert (took < STREAM_STOP_S / 2) if gone else (STREAM_STOP_S <= took < STREAM_STOP_S + STREAM_KILLED_S)


def test_next_reading_judges_each_new_reading_once_in_order_and_gives_the_last_one_at_the_timeout() -> None:
    with Timeline([sys.executable, agent.__file__, "watch", "--interval", "0.05", "--duration", "60",
                   "--until-eof"]) as timeline:
        assert timeline.wait_for(lambda readings: len(readings) >= 2, timeout=20)
        seen: list[float] = []

        def third(reading: Snapshot) -> bool:
            seen.append(reading.t)
            return len(seen) == 3

        since = time.monotonic()
        reading, held = timeline.next_reading(third, timeout=20)
        assert held and reading is not None and reading.t == seen[2]
        assert seen == sorted(set(seen)) and seen[0] >= since  # once each, in order, none from before the wait
        reading, held = timeline.next_reading(lambda _: False, timeout=0.3)
        assert not held and reading is not None and reading.t > seen[2]


def test_a_reading_asked_for_comes_at_once_not_a_period_later() -> None:
    with Timeline([sys.executable, agent.__file__, "watch", "--interval", "30", "--duration", "120",
                   "--until-eof"]) as timeline:
        assert timeline.wait_for(lambda readings: len(readings) >= 1, timeout=20)
        asked = time.monotonic()
        timeline.read_now()
        reading, held = timeline.next_reading(lambda _: True, timeout=20)
        assert held and reading is not None and reading.t >= asked
        assert time.monotonic() - asked < 10  # the agent's own period is 30 s
