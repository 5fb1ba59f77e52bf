"""The probe agent: its CPU measure (nanoseconds from the scheduler, fine enough for a half-second window) and
its stream of readings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.probe import STREAM_KILLED_S, STREAM_STOP_S, Snapshot, Timeline
from lab.probe_agent import agent


@pytest.mark.skipif(not agent.HAS_SCHEDSTAT, reason="this kernel has no schedstat")
def test_cpu_is_counted_in_nanoseconds_and_sees_a_few_milliseconds_of_work() -> None:
    # A process of its own: one whose threads have all lived (this test worker's exited threads are counted in
    # whole ticks only, 10 ms, too coarse for 20 ms of work).
    busy = ("import sys, time\nsys.stdin.readline()\nend = time.thread_time() + 0.02\n"
            "while time.thread_time() < end:\n    pass\nprint(flush=True)\nsys.stdin.readline()\n")
    with subprocess.Popen([sys.executable, "-c", busy], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True) as child:
        assert child.stdin is not None and child.stdout is not None
        try:
            before, rss, per_second = agent.cpu_and_rss([child.pid])
            assert per_second == 1_000_000_000 and rss > 0
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline() == "\n"  # its 20 ms of CPU are spent (20,000,000 ns)
            after, _, _ = agent.cpu_and_rss([child.pid])
        finally:
            child.stdin.close()  # EOF: the child's last readline returns and it exits
            child.wait(timeout=10)
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

        # "From now on" is by arrival: a reading taken just before the call may arrive after it, so the bound is
        # the last reading that had arrived (the clock at the call raced with a reading in flight under load).
        since = timeline.samples[-1].t
        reading, held = timeline.next_reading(third, timeout=20)
        assert held and reading is not None and reading.t == seen[2]
        assert seen == sorted(set(seen)) and seen[0] > since  # once each, in order, none that had arrived before
        # A reading of the host's /proc (hundreds of threads) costs 0.1-0.3 s here, seconds on a loaded machine.
        reading, held = timeline.next_reading(lambda _: False, timeout=3.0)  # the wait lasts all of it
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


# -- CPU that stays counted, and the counters beside it (a fake /proc tree, then the live one) -------------------
TICK_NS = agent.NANOS // agent.CLK_TCK


def _stat(pid: int, utime: int, stime: int, cutime: int = 0, cstime: int = 0, start: int = 500) -> str:
    # pid (comm) state, then fields 4.. of proc(5): utime is the 14th field, starttime the 22nd.
    rest = ["0"] * 40
    rest[10], rest[11], rest[12], rest[13], rest[18] = str(utime), str(stime), str(cutime), str(cstime), str(start)
    return f"{pid} (a (b) c) S {' '.join(rest)}\n"


def _fake_process(root: Path, pid: int, *, ticks: int, children_ticks: int = 0,
                  threads: dict[int, tuple[int, int]], io: str | None = "rchar: 300\nwchar: 200\n",
                  start: int = 500, waits: dict[int, int] | None = None) -> None:
    """A process in the fake /proc: its ticks (exited threads included), and per live thread (ns, wakeups)."""
    base = root / str(pid)
    (base / "task").mkdir(parents=True)
    (base / "cgroup").write_text("0::/target\n")
    (base / "stat").write_text(_stat(pid, ticks, 0, children_ticks, 0, start))
    (base / "status").write_text("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nvoluntary_ctxt_switches:\t1\n")
    if io is not None:
        (base / "io").write_text(io + "syscr: 1\nsyscw: 1\n")
    for tid, (nanos, wakeups) in threads.items():
        task = base / "task" / str(tid)
        task.mkdir()
        (task / "schedstat").write_text(f"{nanos} {(waits or {}).get(tid, 0)} 1\n")
        (task / "status").write_text(f"Name:\tx\nvoluntary_ctxt_switches:\t{wakeups}\nnonvoluntary_ctxt_switches:\t9\n")


@pytest.fixture
def fake_proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(agent, "PROC", str(tmp_path))
    monkeypatch.setattr(agent, "HAS_SCHEDSTAT", True)
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "tcp").write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 00000000:1F90 00000000:0000 0A 00000000:00000005 00:00000000 00000000     0        0 1\n"
        "   1: 0100007F:1F90 0100007F:9C40 01 00000010:00000400 00:00000000 00000000     0        0 2\n")
    (tmp_path / "net" / "dev").write_text(
        "Inter-|   Receive |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes\n"
        "    lo:    7000   1 0 0 0 0 0 0    7000   1 0 0 0 0 0 0\n"
        "  eth0:    2683  33 0 0 0 0 0 0    1403  17 0 0 0 0 0 0\n"
        "  eth1:    1236  14 0 0 0 0 0 0       0   0 0 0 0 0 0 0\n")
    return tmp_path


def test_a_thread_that_exits_keeps_its_cpu_and_its_wakeups_and_reaped_children_count(fake_proc: Path) -> None:
    state = agent.StreamState()
    _fake_process(fake_proc, 1, ticks=30, threads={1: (10 * TICK_NS, 5), 2: (20 * TICK_NS, 50)})
    first = agent.snapshot(state)
    assert first["cpu_ticks"] == 30 * TICK_NS and first["wakeups"] == 55
    # Thread 2 ran 5 more ticks and exited: the process's ticks keep it; a child ran 7 ticks and was reaped.
    shutil.rmtree(fake_proc / "1")
    _fake_process(fake_proc, 1, ticks=35, children_ticks=7, threads={1: (10 * TICK_NS, 6)})
    second = agent.snapshot(state)
    assert second["cpu_ticks"] == (10 + 25 + 7) * TICK_NS  # live ns + exited thread's ticks + the child's
    assert second["wakeups"] == 56  # thread 2's 50 stay counted
    assert second["procs"] == [[1, 500]] and second["rss_peak_bytes"] == 2048 * 1024
    assert second["io_bytes"] == 500
    assert second["net_bytes"] == 2683 + 1403 + 1236  # loopback aside
    assert second["tcp"] == {"LISTEN": 1, "ESTABLISHED": 1}
    assert second["rx_queued"] == 0x400  # unread input of connected sockets (not the listener's accept queue)


def test_the_longest_wait_of_one_thread_for_a_cpu_between_readings_is_reported(fake_proc: Path) -> None:
    state = agent.StreamState()
    _fake_process(fake_proc, 1, ticks=3, threads={1: (TICK_NS, 0), 2: (TICK_NS, 0)}, waits={1: 500, 2: 900})
    assert agent.snapshot(state)["run_wait_ns"] == -1  # a stream's first reading: waited since when?
    shutil.rmtree(fake_proc / "1")
    # Thread 1 waited 300 ns more, thread 2 700; thread 3 is new since the last reading: all its 400 are.
    _fake_process(fake_proc, 1, ticks=3, threads={1: (TICK_NS, 0), 2: (TICK_NS, 0), 3: (TICK_NS, 0)},
                  waits={1: 800, 2: 1600, 3: 400})
    assert agent.snapshot(state)["run_wait_ns"] == 700  # one thread's, not their sum
    assert agent.snapshot()["run_wait_ns"] == -1  # a one-off reading


def test_a_process_cpu_never_goes_back_between_readings_of_a_stream(fake_proc: Path) -> None:
    state = agent.StreamState()
    _fake_process(fake_proc, 1, ticks=30, threads={1: (20 * TICK_NS, 1), 2: (10 * TICK_NS, 1)})
    first = agent.snapshot(state)["cpu_ticks"]
    assert first == 30 * TICK_NS
    # Thread 2 exited after 9.5 ms more: the process's ticks, truncated, show none of it yet.
    shutil.rmtree(fake_proc / "1")
    _fake_process(fake_proc, 1, ticks=30, threads={1: (20 * TICK_NS + TICK_NS // 2, 1)})
    assert agent.snapshot(state)["cpu_ticks"] >= first


def test_io_bytes_unreadable_is_minus_one(fake_proc: Path) -> None:
    _fake_process(fake_proc, 1, ticks=1, threads={1: (TICK_NS, 0)}, io=None)
    assert agent.snapshot()["io_bytes"] == -1


def test_reset_peak_writes_5_to_clear_refs_and_says_whether_it_worked(fake_proc: Path) -> None:
    _fake_process(fake_proc, 1, ticks=1, threads={1: (TICK_NS, 0)})
    assert agent.reset_peak() == {"ok": True, "reset": [1], "errors": []}
    assert (fake_proc / "1" / "clear_refs").read_text() == "5"
    (fake_proc / "1" / "clear_refs").unlink()
    (fake_proc / "1" / "clear_refs").mkdir()  # the kernel refuses: the answer says so
    answer = agent.reset_peak()
    assert answer["ok"] is False and answer["errors"][0].startswith("pid 1:")


def _burn(seconds: float) -> None:
    busy_until = time.thread_time() + seconds
    while time.thread_time() < busy_until:
        pass


@pytest.mark.skipif(not agent.HAS_SCHEDSTAT, reason="this kernel has no schedstat")
def test_live_a_thread_that_burns_cpu_and_exits_is_still_counted() -> None:
    before, _, _ = agent.cpu_and_rss([os.getpid()])
    worker = threading.Thread(target=_burn, args=(0.1,))
    worker.start()
    worker.join(timeout=30)
    after, _, _ = agent.cpu_and_rss([os.getpid()])
    assert after - before >= 0.07 * agent.NANOS  # 100 ms, ticks rounded: the exited thread's CPU stays


def test_live_a_reaped_child_is_counted() -> None:
    before, _, per_second = agent.cpu_and_rss([os.getpid()])
    subprocess.run([sys.executable, "-c", "import time\nend = time.process_time() + 0.15\n"
                    "while time.process_time() < end: pass"], check=True, timeout=30)
    after, _, _ = agent.cpu_and_rss([os.getpid()])
    assert after - before >= 0.1 * per_second


# -- the peak reset that opens a case ------------------------------------------------------------------------------
def test_a_stream_not_asked_to_reset_the_peak_leaves_it(fake_proc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fake_process(fake_proc, 1, ticks=1, threads={1: (TICK_NS, 0)})
    agent.watch(0.01, 0.015)
    assert "reset_peak" not in capsys.readouterr().out and not (fake_proc / "1" / "clear_refs").exists()


def _printing(*lines: dict[str, object], then_wait: bool = False) -> list[str]:
    """A stream that prints these lines (JSON), then ends, or waits like a live one until its stdin closes."""
    script = "import json, sys\n" + "".join(f"print(json.dumps({line!r}), flush=True)\n" for line in lines)
    return [sys.executable, "-c", script + ("sys.stdin.read()\n" if then_wait else "")]


def _reading(t: float, fds: int) -> dict[str, object]:
    return {"t": t, "pids": [1], "fds": fds, "fd_kinds": {}, "tcp": {}, "cpu_ticks": 0, "clk_tck": 100,
            "rss_bytes": 1, "start_ticks": 1}


RESET_LINE = {"reset_peak": {"ok": True, "reset": [1], "errors": []}, "t": 5.0}


def test_the_timeline_keeps_the_case_s_peak_reset_and_readings_when_its_stream_starts_again(tmp_path: Path) -> None:
    # The first agent resets, reads once and ends (a target restarting mid-case); the one started again reads on
    # and does not reset: only a case's "reset" line does, so the peak so far belongs to the case.
    marker = tmp_path / "started"
    script = ("import json, pathlib, sys\n"
              f"marker = pathlib.Path({str(marker)!r})\n"
              "if not marker.exists():\n"
              "    marker.touch()\n"
              f"    print(json.dumps({RESET_LINE!r}), flush=True)\n"
              f"    print(json.dumps({_reading(5.1, 1)!r}), flush=True)\n"
              "else:\n"
              f"    print(json.dumps({_reading(6.0, 2)!r}), flush=True)\n"
              "    sys.stdin.read()\n")
    with Timeline([sys.executable, "-c", script]) as timeline:
        assert timeline.peak_reset(timeout=20) == (5.0, None)
        assert timeline.wait_for(lambda readings: [r.fds for r in readings] == [1, 2], timeout=20)
        # Readings taken since the reset count, even one that had arrived before the wait began.
        reading, held = timeline.next_reading(lambda r: True, timeout=5, since=5.0)
        assert held and reading is not None and reading.t == 5.1
    assert any("probe stream ended" in error for error in timeline.errors)


def test_a_peak_reset_that_failed_or_never_came_is_said_so() -> None:
    refused = _printing({"reset_peak": {"ok": False, "reset": [], "errors": ["pid 1: Permission denied"]},
                         "t": 1.0}, then_wait=True)
    with Timeline(refused) as timeline:
        assert timeline.peak_reset(timeout=20) == (None, "pid 1: Permission denied")
    with Timeline(_printing(_reading(1.0, 1), then_wait=True)) as timeline:
        when, trouble = timeline.peak_reset(timeout=0.5)
        assert when is None and trouble == "the probe stream did not reset the peak within 0.5 s"


# -- one stream, case after case (Lab.probe_stream) -------------------------------------------------------------------
def test_a_reset_line_on_stdin_resets_the_peak_between_two_readings(
        fake_proc: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_process(fake_proc, 1, ticks=1, threads={1: (TICK_NS, 0)})
    read_end, write_end = os.pipe()
    os.write(write_end, b"reset\n")
    os.close(write_end)  # then EOF: the stream ends
    with os.fdopen(read_end, "rb") as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        agent.watch(0.01, 60, until_eof=True)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "reset_peak" not in lines[0]  # the stream's first reading, before anything was asked
    assert lines[1]["reset_peak"] == {"ok": True, "reset": [1], "errors": []}
    assert (fake_proc / "1" / "clear_refs").read_text() == "5"
    assert len(lines) == 3 and "reset_peak" not in lines[2] and lines[2]["t"] >= lines[1]["t"]


def _agent_on(fake_proc: Path) -> list[str]:
    return ["env", f"PROBE_PROC={fake_proc}", sys.executable, agent.__file__, "watch", "--interval", "0.05",
            "--duration", "60", "--until-eof"]


def _read_after(t: float) -> Callable[[list[Snapshot]], bool]:
    return lambda readings: any(reading.t > t for reading in readings)


def test_one_stream_serves_case_after_case_each_with_its_own_peak_reset(fake_proc: Path) -> None:
    _fake_process(fake_proc, 1, ticks=1, threads={1: (TICK_NS, 0)})
    with Timeline(_agent_on(fake_proc)) as timeline:
        timeline.begin_case()  # at once, before its process has started: the reset is said as it starts
        for case in range(3):
            if case:
                earlier = list(timeline.samples)
                timeline.begin_case()
            began = time.monotonic()
            when, trouble = timeline.peak_reset(timeout=20)
            assert trouble is None and when is not None
            assert timeline.wait_for(_read_after(when), timeout=20)
            if case:
                assert when > max(r.t for r in earlier) and not any(r in earlier for r in timeline.samples)
                assert when <= time.monotonic() and began - when < 5
            assert timeline.alive() and timeline.errors == []
        assert (fake_proc / "1" / "clear_refs").read_text() == "5"
    assert not timeline.alive()


def test_the_lab_keeps_its_probe_stream_until_the_target_is_recreated(
        fake_proc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.instance import Lab
    from lab.settings import LabConfig

    _fake_process(fake_proc, 1, ticks=1, threads={1: (TICK_NS, 0)})
    lab = Lab(LabConfig(project="epl-unit-stream"), log=lambda _: None, build_images=False)
    recreated: list[tuple[str, ...]] = []

    class Probe:
        def watch_command(self, interval_s: float) -> list[str]:
            return _agent_on(fake_proc)

    class Compose:
        def run(self, *args: str, **_: object) -> None:
            recreated.append(args)

    monkeypatch.setattr(lab, "probe", Probe)
    monkeypatch.setattr(lab, "wait_ready", lambda: None)
    lab.compose = Compose()  # type: ignore[assignment]
    first = lab.probe_stream(0.05)
    assert first.wait_for(lambda readings: len(readings) >= 1, timeout=20)
    assert lab.probe_stream(0.05) is first  # the next case begins on the same stream
    lab.restart_target()
    assert recreated and not first.alive()
    second = lab.probe_stream(0.05)
    assert second is not first and second.wait_for(lambda readings: len(readings) >= 1, timeout=20)
    second.target_gone()  # a stream that ended (the target stopped) is not begun on again
    assert lab.probe_stream(0.05) is not second
    lab.end_probe_stream()
