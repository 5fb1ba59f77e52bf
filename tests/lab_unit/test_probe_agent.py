"""The probe agent's CPU measure: nanoseconds from the scheduler, fine enough for a half-second window."""

from __future__ import annotations

import os
import time

import pytest

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
