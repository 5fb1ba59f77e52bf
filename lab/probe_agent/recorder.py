"""The capture's recorder in the probe: tcpdump and strace of the target, driven one command a line on stdin.

One `docker exec -i` runs it for the whole case (lab.chaos.run.capture), so pausing the trace for a CPU window
costs a line each way instead of a `docker exec` each. It is the tools' parent and reaps them (the probe's
PID 1 is the target's, which reaps nobody). EOF on stdin means the host side is gone: it stops both tools, so
nothing is left running in the probe.

usage: recorder.py WORK 'PACKETS COMMAND' 'TRACE COMMAND'
It prints `ready` (or `not-ready`), the clocks (JSON) and the target's pids, then answers one line a command:
  detach → `detached` (or `killed`: strace ignored SIGINT)   attach → `ready` or `not-ready`
  stop   → `stopped` (or `killed`), and exits
The trace command gets `-p PID` for each target process and `-o WORK/trace-N.log`, N counting from 0.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

READY_TIMEOUT_S = 5.0  # for a tool to start recording
STOP_TIMEOUT_S = 5.0  # for a tool to end after SIGINT (strace writes its table, tcpdump flushes)
POLL_S = 0.01


def target_pids() -> list[int]:
    """The agent's (it sits beside this file, in the probe as in the repository)."""
    return [int(pid) for pid in importlib.import_module("agent").target_pids()]


def wait_until(condition: Callable[[], bool], tool: subprocess.Popen[bytes]) -> bool:
    """Whether `condition` holds within READY_TIMEOUT_S, while the tool still runs."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not condition():
        if tool.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)  # polling for a file the tool writes
    return True


def stop(tool: subprocess.Popen[bytes]) -> bool:
    """SIGINT and a bounded wait; a tool still running after it is killed (then False)."""
    if tool.poll() is None:
        tool.send_signal(signal.SIGINT)
    try:
        tool.wait(timeout=STOP_TIMEOUT_S)
        return True
    except subprocess.TimeoutExpired:
        tool.kill()
        tool.wait()
        return False


class Recorder:
    def __init__(self, work: Path, packets: list[str], trace: list[str], pids: list[int]) -> None:
        self._work = work
        self._packets = packets
        self._trace = trace
        self._pids = pids
        self._segment = 0
        self._tcpdump: subprocess.Popen[bytes] | None = None
        self._strace: subprocess.Popen[bytes] | None = None

    def _spawn(self, command: list[str], errors: str) -> subprocess.Popen[bytes]:
        with open(self._work / errors, "ab") as sink:
            return subprocess.Popen(command, cwd=self._work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=sink)

    def start(self) -> bool:
        """Both tools started; whether both record."""
        self._tcpdump = tcpdump = self._spawn(self._packets, "tcpdump.err")
        traced = self.attach()
        listening = wait_until(lambda: "listening on" in (self._work / "tcpdump.err").read_text(errors="replace"),
                               tcpdump)
        return traced and listening

    def attach(self) -> bool:
        """The next strace segment, once it records."""
        if self._strace is not None and self._strace.poll() is None:
            return True
        log = self._work / f"trace-{self._segment}.log"
        self._segment += 1
        attach = [word for pid in self._pids for word in ("-p", str(pid))]
        self._strace = strace = self._spawn([*self._trace, *attach, "-o", str(log)], "strace.err")
        return wait_until(log.is_file, strace)

    def detach(self) -> bool:
        strace, self._strace = self._strace, None
        return strace is None or stop(strace)

    def stop(self) -> bool:
        tcpdump, self._tcpdump = self._tcpdump, None
        detached = self.detach()
        return (tcpdump is None or stop(tcpdump)) and detached


def say(line: str) -> None:
    print(line, flush=True)


def serve(recorder: Recorder) -> None:
    """Answers commands until `stop` or EOF; the tools are stopped either way."""
    try:
        while line := sys.stdin.readline():
            command = line.strip()
            if command == "stop":
                break
            if command == "detach":
                say("detached" if recorder.detach() else "killed")
            elif command == "attach":
                say("ready" if recorder.attach() else "not-ready")
            else:
                say(f"unknown command {command!r}")
    finally:
        stopped = recorder.stop()
    with contextlib.suppress(OSError):  # after EOF nobody may be reading
        say("stopped" if stopped else "killed")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    work = Path(argv[0])
    shutil.rmtree(work, ignore_errors=True)  # one case's files only
    (work / "out").mkdir(parents=True)
    clocks = json.dumps({"monotonic": time.monotonic(), "wall": time.time()})
    pids = target_pids()
    if not pids:
        say("no-target")
        return 3
    recorder = Recorder(work, shlex.split(argv[1]), shlex.split(argv[2]), pids)
    try:
        say("ready" if recorder.start() else "not-ready")
        say(clocks)
        say(" ".join(str(pid) for pid in pids))
    except BaseException:
        recorder.stop()
        raise
    serve(recorder)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
