"""The capture's control channel without Docker: the probe's recorder run here, stand-ins for tcpdump and strace.

Each command is a line to the recorder and a line back; EOF stops everything; a probe that is gone is not
waited for.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lab.chaos.run import capture as capture_module
from lab.chaos.run.capture import Capture, Channel
from lab.errors import LabError
from lab.probe_agent import recorder

RECORDER = Path(recorder.__file__)
STAND_IN = shlex.join([sys.executable, str(Path(__file__).with_name("stand_in_tool.py"))])
GONE_WITHIN_S = 10.0


def fake_proc(root: Path) -> Path:
    """A /proc with the target's two processes (PID 1's cgroup) for the agent's pid lookup."""
    for pid in (1, 42):
        (root / str(pid)).mkdir(parents=True)
        (root / str(pid) / "cgroup").write_text("0::/target\n")
    return root


def recorder_argv(work: Path, trace: str = STAND_IN) -> list[str]:
    return [sys.executable, str(RECORDER), str(work), STAND_IN, trace]


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROBE_PROC", str(fake_proc(tmp_path / "proc")))
    return tmp_path / "work"


def running(work: Path) -> list[int]:
    """The stand-ins that still run (a zombie does not count: it is waiting for its parent)."""
    alive = []
    for marker in work.glob("running-*"):
        pid = int(marker.name.split("-")[1])
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state not in ("Z", "X"):
            alive.append(pid)
    return alive


def all_gone(work: Path) -> bool:
    deadline = time.monotonic() + GONE_WITHIN_S
    while running(work):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)  # polling for the stand-ins' exit, with a deadline
    return True


class LocalCapture(Capture):
    """The capture with its recorder run here instead of through `docker exec`."""

    def __init__(self, argv: list[str], probe_running: bool = True) -> None:
        lab = SimpleNamespace(config=SimpleNamespace(target_port=8080),
                              exec=lambda *a, **k: subprocess.CompletedProcess([], 0, b"", b""))
        super().__init__(lab)
        self._argv = argv
        self.probe_running = probe_running

    def _recorder_argv(self) -> list[str]:
        return self._argv

    def _probe_running(self) -> bool:
        return self.probe_running


def test_one_recorder_detaches_attaches_and_stops_with_a_line_each(work: Path) -> None:
    capture = LocalCapture(recorder_argv(work))
    capture.start()
    assert len(running(work)) == 2
    with capture.untraced():
        assert "% time" in (work / "trace-0.log").read_text()  # strace's table: it detached
        assert len(running(work)) == 1
    assert (work / "trace-1.log").exists() and len(running(work)) == 2 and len(capture.untraced_spans) == 1
    with capture.untraced():
        pass
    assert (work / "trace-2.log").exists() and capture._segments == 3
    capture.discard()
    assert "% time" in (work / "trace-2.log").read_text()
    assert all_gone(work) and capture.trouble == []


def test_the_answers_of_the_protocol(work: Path) -> None:
    channel = Channel(recorder_argv(work), alive=lambda: True)
    ready, clocks, pids = channel.lines(3, "starting")
    assert ready == "ready" and {"monotonic", "wall"} <= set(json.loads(clocks)) and pids == "1 42"
    assert [channel.ask(command, command) for command in ("detach", "detach", "attach", "attach", "nonsense")] \
        == ["detached", "detached", "ready", "ready", "unknown command 'nonsense'"]
    assert channel.ask("stop", "stopping") == "stopped"
    channel.close(wait=True)
    assert all_gone(work)


def test_eof_on_stdin_stops_both_tools(work: Path) -> None:
    channel = Channel(recorder_argv(work), alive=lambda: True)
    assert channel.lines(3, "starting")[0] == "ready"
    channel.close(wait=True)  # the host side went away without a `stop`
    assert all_gone(work)
    assert "% time" in (work / "trace-0.log").read_text()


def test_a_trace_that_will_not_attach_is_noted_and_the_block_still_runs(work: Path) -> None:
    capture = LocalCapture(recorder_argv(work))
    capture.start()
    (work / "trace-1.log").mkdir()  # the next segment's log cannot be written: the stand-in fails
    ran = False
    with capture.untraced():
        ran = True
    assert ran and capture.trouble == ["attaching strace after a CPU window: strace would not start: no message"]
    capture.discard()
    assert all_gone(work)


def test_a_probe_that_went_down_is_not_waited_for(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A `docker exec` client whose container is gone: it said its first lines and then nothing, ever.
    hung = [sys.executable, "-c", "import time; print('ready\\n{\"wall\": 1, \"monotonic\": 0}\\n1', flush=True); "
            "time.sleep(60)"]
    capture = LocalCapture(hung)
    capture.start()
    capture.probe_running = False
    began = time.monotonic()
    with pytest.raises(LabError, match="the probe is gone"):
        capture.abort()
    capture.discard()  # nothing left to stop
    assert time.monotonic() - began < capture_module.STOP_TIMEOUT_S / 5


def test_the_held_cpu_window_thread_and_the_stop_take_turns(work: Path) -> None:
    capture = LocalCapture(recorder_argv(work))
    capture.start()
    inside = threading.Event()
    leave = threading.Event()

    def window() -> None:
        with capture.untraced():
            inside.set()
            leave.wait(timeout=GONE_WITHIN_S)

    thread = threading.Thread(target=window)
    thread.start()
    assert inside.wait(timeout=GONE_WITHIN_S)
    stopper = threading.Thread(target=capture.discard)
    stopper.start()
    stopper.join(timeout=0.3)
    assert stopper.is_alive()  # the stop waits for the window to attach again
    leave.set()
    thread.join(timeout=GONE_WITHIN_S)
    stopper.join(timeout=GONE_WITHIN_S)
    assert not stopper.is_alive() and capture.trouble == [] and all_gone(work)


def test_untraced_blocks_nest_across_threads_and_the_trace_is_off_from_the_first_to_the_last(work: Path) -> None:
    # The canary's clients phase is untraced, and the held CPU window inside it runs in a thread of its own.
    capture = LocalCapture(recorder_argv(work))
    capture.start()
    inside, leave = threading.Event(), threading.Event()

    def held_window() -> None:
        with capture.untraced("a CPU window"):
            inside.set()
            leave.wait(timeout=GONE_WITHIN_S)

    with capture.untraced("the canary's latency was judged"):
        thread = threading.Thread(target=held_window)
        thread.start()
        assert inside.wait(timeout=GONE_WITHIN_S)
        assert len(running(work)) == 1  # tcpdump only: one detach for both blocks
    assert len(running(work)) == 1  # the window still runs: still off
    leave.set()
    thread.join(timeout=GONE_WITHIN_S)
    assert len(running(work)) == 2 and capture._segments == 2  # attached once, when the last block ended
    [span] = capture.untraced_spans
    assert span.reason == "the canary's latency was judged and a CPU window" and span.end > span.start
    capture.discard()
    assert all_gone(work) and capture.trouble == []


def recorder_here(work: Path, trace: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(recorder, "STOP_TIMEOUT_S", 0.3)
    (work / "out").mkdir(parents=True)
    return recorder.Recorder(work, shlex.split(STAND_IN), trace, [1])


def test_a_tool_deaf_to_sigint_is_killed_after_a_bounded_wait(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(work.parent)
    tools = recorder_here(work, [*shlex.split(STAND_IN), "--ignore-int"], monkeypatch)
    assert tools.start()
    assert tools.detach() is False  # killed
    assert tools.stop() is True
    assert all_gone(work)
