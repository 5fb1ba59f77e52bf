"""Reads the probe sidecar: what the target's /proc says, from outside the target."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from lab import engine
from lab.errors import LabError

AGENT = "/probe/agent.py"
STREAM_MAX_S = 3600.0  # the agent's own bound on a stream, should the host never close it
STREAM_STOP_S = 2.0  # how long a stream may take to end once asked (the agent stops at once on EOF)
STREAM_KILLED_S = 5.0  # and once its `docker exec` client is killed
STREAM_RESTART_S = 0.5  # a stream that ended mid-case (the target restarting) is started again after this


@dataclass(frozen=True)
class Snapshot:
    """One reading of the target (see docs/architecture.md for the fields)."""

    t: float
    pids: tuple[int, ...]
    fds: int
    fd_kinds: dict[str, int]
    tcp: dict[str, int]
    cpu_ticks: int  # the target's CPU time, in units of which clk_tck make a second (ns with schedstat)
    clk_tck: int
    rss_bytes: int
    start_ticks: int
    # Defaults: what a reading from an older agent (or JSON) did not have.
    rss_peak_bytes: int = 0  # sum of VmHWM over the target's processes (reset per case where the kernel allows)
    io_bytes: int = -1  # sum of rchar + wchar over the target's processes; -1: unreadable or not read
    wakeups: int = -1  # voluntary context switches of the target's threads (exited ones kept); -1: not read
    procs: tuple[tuple[int, int], ...] = ()  # (pid, start ticks) of each of the target's processes
    # Bytes received and sent on the target's network interfaces (not lo); -1: unreadable or not read. Client
    # traffic shows here: io_bytes (rchar + wchar) misses recv and send on sockets.
    net_bytes: int = -1
    rx_queued: int = -1  # bytes received, unread, in the receive queues of connected sockets; -1: not read
    # The longest one of the target's threads waited, runnable, for a CPU since the stream's reading before this
    # one (ns, schedstat): a busy host's time, not the server's. -1: not read, or the stream's first reading.
    run_wait_ns: int = -1

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        return cls(t=float(data["t"]), pids=tuple(data["pids"]), fds=int(data["fds"]),
                   fd_kinds=dict(data["fd_kinds"]), tcp=dict(data["tcp"]), cpu_ticks=int(data["cpu_ticks"]),
                   clk_tck=int(data["clk_tck"]), rss_bytes=int(data["rss_bytes"]),
                   start_ticks=int(data["start_ticks"]), rss_peak_bytes=int(data.get("rss_peak_bytes", 0)),
                   io_bytes=int(data.get("io_bytes", -1)), wakeups=int(data.get("wakeups", -1)),
                   procs=tuple((int(pid), int(start)) for pid, start in data.get("procs", ())),
                   net_bytes=int(data.get("net_bytes", -1)), rx_queued=int(data.get("rx_queued", -1)),
                   run_wait_ns=int(data.get("run_wait_ns", -1)))

    def to_json(self) -> dict[str, Any]:
        return {"t": self.t, "pids": list(self.pids), "fds": self.fds, "fd_kinds": self.fd_kinds,
                "tcp": self.tcp, "cpu_ticks": self.cpu_ticks, "clk_tck": self.clk_tck,
                "rss_bytes": self.rss_bytes, "start_ticks": self.start_ticks,
                "rss_peak_bytes": self.rss_peak_bytes, "io_bytes": self.io_bytes, "wakeups": self.wakeups,
                "procs": [list(proc) for proc in self.procs], "net_bytes": self.net_bytes,
                "rx_queued": self.rx_queued, "run_wait_ns": self.run_wait_ns}

    def sockets(self, state: str) -> int:
        return self.tcp.get(state, 0)

    @property
    def cpu_seconds(self) -> float:
        return self.cpu_ticks / self.clk_tck


def reset_trouble(answer: dict[str, Any]) -> str | None:
    """The agent's answer to a peak reset: None when it worked, else why not."""
    if answer.get("ok"):
        return None
    return "; ".join(answer.get("errors") or []) or "no target process to reset"


class Probe:
    """Snapshots through `docker exec` into the probe container (a Docker SDK container)."""

    def __init__(self, container: Any) -> None:
        self._container = container

    def watch_command(self, interval_s: float) -> list[str]:
        """A `docker exec` that streams one snapshot per line every `interval_s` until its stdin closes; a case
        that begins on it has the target's peak RSS reset (Timeline.begin_case)."""
        return [engine.require_docker_cli(), "exec", "-i", self._container.name, "python3", AGENT, "watch",
                "--interval", f"{interval_s:g}", "--duration", f"{STREAM_MAX_S:g}", "--until-eof"]

    def snapshot(self) -> Snapshot:
        result = self._container.exec_run(["python3", AGENT, "snapshot"], demux=True)
        stdout, stderr = result.output
        if result.exit_code != 0:
            detail = (stderr or b"").decode(errors="replace").strip()
            raise LabError(f"probe snapshot failed (exit {result.exit_code}): {detail or 'no message'}")
        try:
            return Snapshot.from_json(json.loads(stdout or b""))
        except (ValueError, KeyError, TypeError) as error:
            raise LabError(f"probe snapshot unreadable: {error}") from None


class Timeline:
    """Streams the probe's snapshots while a case runs: one long-lived agent (`agent.py watch`) instead of a
    `docker exec` per reading, so readings are taken on time even when a `docker exec` takes seconds on a loaded
    machine. A reading carries the time it was taken: waits judge it by that time, not by when it arrived."""

    def __init__(self, command: list[str]) -> None:
        # Streams one snapshot per line until its stdin closes (Probe.watch_command); started again should it end
        # mid-case, which resets nothing: only a case's "reset" line does (begin_case).
        self._command = command
        self.samples: list[Snapshot] = []
        self.errors: list[str] = []
        self._peak_reset: tuple[float, str | None] | None = None  # the stream's own reset: (its time, its trouble)
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._process_lock = threading.Lock()
        self._pending: list[bytes] = []  # lines asked of the agent before its process started
        self._thread: threading.Thread | None = None
        self._target_gone = False

    def __enter__(self) -> Timeline:
        self._thread = threading.Thread(target=self._run, name="probe-timeline", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with self._process_lock:
            process = self._process
        if process is not None:
            _close(process.stdin)  # the agent stops at once
        if self._thread is None:
            return
        self._thread.join(timeout=0 if self._target_gone else STREAM_STOP_S)
        if self._thread.is_alive() and process is not None:
            process.kill()  # also closes the agent's stdin, should it still run
            self._thread.join(timeout=STREAM_KILLED_S)

    def alive(self) -> bool:
        """The stream runs and was not asked to end: a case can begin on it."""
        with self._process_lock:
            process = self._process
        return (self._thread is not None and self._thread.is_alive() and not self._stop.is_set()
                and not self._target_gone and (process is None or process.poll() is None))

    def begin_case(self) -> None:
        """Begin a case on a stream that served earlier ones (Lab.probe_stream): their readings, errors and peak
        reset are dropped, and the agent resets the peak RSS and says so (peak_reset) before the case's readings."""
        with self._changed:
            self.samples = []
            self.errors = []
            self._peak_reset = None
        self._ask(b"reset\n")

    def target_gone(self) -> None:
        """The target stopped and took the agent along (they share a PID namespace): `docker exec -i` does not
        notice its process is gone, so the stream is ended by killing our client rather than waited for."""
        self._target_gone = True

    def peak_reset(self, *, timeout: float) -> tuple[float | None, str | None]:
        """When the stream reset the target's peak RSS (its clock) and None; or None and why it did not, once the
        stream said so or `timeout` passed (after begin_case)."""
        with self._changed:
            self._changed.wait_for(lambda: self._peak_reset is not None, timeout=timeout)
            if self._peak_reset is None:
                detail = f" ({self.errors[-1]})" if self.errors else ""
                return None, f"the probe stream did not reset the peak within {timeout:g} s{detail}"
            when, trouble = self._peak_reset
            return (None, trouble) if trouble else (when, None)

    def wait_for(self, decided: Callable[[list[Snapshot]], bool], *, timeout: float) -> bool:
        """Wait until `decided(samples)` holds, at most `timeout` seconds; whether it did."""
        with self._changed:
            return self._changed.wait_for(lambda: decided(self.samples), timeout=timeout)

    def read_now(self) -> None:
        """Ask the agent for a reading now rather than at its next period (any line on its stdin does)."""
        self._ask(b"\n")

    def _ask(self, line: bytes) -> None:
        with self._process_lock:
            process = self._process
            if process is None:  # not started yet: said as it starts (a case may begin on a brand-new stream)
                self._pending.append(line)
                return
        if process.stdin is None:
            return
        with contextlib.suppress(OSError, ValueError):  # a stream that just ended: the next period will do
            process.stdin.write(line)
            process.stdin.flush()

    def next_reading(self, condition: Callable[[Snapshot], bool], *, timeout: float,
                     since: float | None = None) -> tuple[Snapshot | None, bool]:
        """The first reading taken from now on (or from `since`, on the stream's clock) for which `condition` holds,
        each reading judged once and in order (`condition` may keep state), and True; at the timeout, the last
        reading taken (or None) and False."""
        start = time.monotonic() if since is None else since
        with self._changed:
            if since is None:
                judged = len(self.samples)  # readings that arrived before the wait are not judged
            else:
                judged = next((index for index, reading in enumerate(self.samples) if reading.t >= start),
                              len(self.samples))
        last: list[Snapshot] = []
        found: list[Snapshot] = []

        def decided(readings: list[Snapshot]) -> bool:
            nonlocal judged
            while judged < len(readings) and not found:
                reading = readings[judged]
                judged += 1
                if reading.t >= start:
                    last[:] = [reading]
                    if condition(reading):
                        found.append(reading)
            return bool(found)

        if self.wait_for(decided, timeout=timeout):
            return found[0], True
        return (last[0] if last else None), False

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                process = subprocess.Popen(self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE)
            except OSError as error:
                self.errors.append(f"probe stream: {error}")
                self._stop.wait(STREAM_RESTART_S)
                continue
            with self._process_lock:
                self._process = process
                pending, self._pending = self._pending, []
            for line in pending:
                self._ask(line)
            if self._stop.is_set():
                _close(process.stdin)
            self._read(process)
            code = process.wait()
            detail = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
            for pipe in (process.stdin, process.stdout, process.stderr):
                _close(pipe)
            if not self._stop.is_set():  # the target (and so the probe) may be down mid-case: keep trying
                self.errors.append(f"probe stream ended (exit {code}): {detail[:200] or 'no message'}")
                self._stop.wait(STREAM_RESTART_S)

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                data = json.loads(line)
                if "reset_peak" in data:
                    with self._changed:
                        self._peak_reset = (float(data["t"]), reset_trouble(data["reset_peak"]))
                        self._changed.notify_all()
                    continue
                snapshot = Snapshot.from_json(data)
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                self.errors.append(f"probe stream: unreadable reading: {error}")
                continue
            with self._changed:
                self.samples.append(snapshot)
                self._changed.notify_all()


def _close(pipe: IO[bytes] | None) -> None:
    if pipe is not None:
        with contextlib.suppress(OSError):
            pipe.close()
