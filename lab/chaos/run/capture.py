"""`--capture`: a packet capture and a syscall trace of the target, recorded from the probe during one case.

tcpdump on the lab port (snap length and total size bounded) and strace -f -C of the target's processes
(a timed log of the event loop's syscalls and the -c count table) run in the probe, which shares the target's
network and PID namespaces. `finish` stops both, copies the files (bounded) into a folder next to the case's
timeline, and sums them up (lab.chaos.model.evidence) for the failure messages.

strace stops the target at every syscall (ptrace), which slows a spinning loop to a crawl and hides the CPU it
would burn, and delays every answer while a burst of connections comes and goes: the trace is detached while a
verdict it would change is measured (`untraced()`: each CPU window, and the clients phase of a case whose
canary's latency is judged) and attached again right after, so capturing changes no verdict. Each attachment
writes a segment of its own (trace-N.log); the evidence lists the stretches the trace was off.

One `docker exec -i` runs the recorder (lab/probe_agent/recorder.py) for the whole case; detaching, attaching
and stopping are a line to its stdin and a line back, not a `docker exec` each (each costs 0.1–0.3 s here).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lab import engine
from lab.chaos.model.evidence import (
    Evidence,
    PacketCounts,
    Untraced,
    WindowActivity,
    connection_calls,
    last_calls,
    packet_counts,
    pcap_counts,
    split_trace,
    syscall_counts,
    syscall_counts_from_log,
    window_activity,
)
from lab.errors import LabError

PROBE = "probe"
WORK = "/tmp/epoll-lab-capture"  # in the probe
SNAP_BYTES = 256  # bytes kept of each packet: headers and the start of the payload
PCAP_FILE_MB = 2  # tcpdump -C: one ring file's size in millions of bytes
PCAP_FILES = 4  # tcpdump -W: ring files kept (at most 8 MB of capture)
PACKET_LINES = 50_000  # lines of the decoded capture copied out
TRACE_HEAD_LINES = 20_000  # lines of the timed syscall log copied out from its start
WINDOW_LINES = 100_000
CONNECTION_LINES = 100_000  # accept and close calls copied out  # lines of the log copied out for each CPU window
SYSCALLS = ("epoll_wait", "epoll_pwait", "epoll_ctl", "accept4", "accept", "recvfrom", "read", "sendto", "sendmsg",
            "write", "writev", "shutdown", "close")
STOP_TIMEOUT_S = 15.0
EXEC_TIMEOUT_S = 60.0
UNTRACED_WAIT_S = 120.0  # a stop waits this long for an untraced stretch (a held CPU window) to end
RESUME_SLACK_S = 1.0  # a trace attached again later than this after a CPU window is not "right after" it


class CaptureLab(Protocol):
    config: Any  # target_port

    def container(self, service: str) -> Any: ...

    def network(self, name: str) -> Any: ...

    def exec(self, service: str, args: list[str], *, timeout: float) -> subprocess.CompletedProcess[bytes]: ...


@dataclass(frozen=True)
class Window:
    """A CPU window of the case, in the probe's monotonic clock (as snapshots record it)."""

    label: str
    start: float
    end: float


def tcpdump_command(port: int) -> str:
    return (f"tcpdump -i any -nn -U --immediate-mode -Z root -s {SNAP_BYTES} -C {PCAP_FILE_MB} -W {PCAP_FILES} "
            f"-w {WORK}/packets.pcap tcp port {port}")


STRACE_OPTIONS = f"-f -qq -ttt -T -C -e trace={','.join(SYSCALLS)}"
RECORDER = "/probe/recorder.py"  # lab/probe_agent/recorder.py in the probe image
# An answer this late: is the probe still there? It goes down with the target, and then our `docker exec`
# client may never end; the first check comes early, as a stopped target is a common case's end.
FIRST_ALIVE_CHECK_S = 0.2
ALIVE_CHECK_S = 1.0


def recorder_command(port: int) -> list[str]:
    """The recorder's command line in the probe: it adds `-p PID …` and `-o trace-N.log` to strace's."""
    return ["python3", RECORDER, WORK, tcpdump_command(port), f"strace {STRACE_OPTIONS}"]


class Channel:
    """One command a line to the recorder's process (a `docker exec -i`), one answer a line back, each within
    STOP_TIMEOUT_S. `alive` says whether the probe still runs: one that went down with the target leaves a
    `docker exec` client that may never end, so a late answer is not waited for once the probe is gone."""

    def __init__(self, argv: list[str], alive: Callable[[], bool]) -> None:
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self._process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors)
        self._alive = alive
        self._buffer = b""

    def lines(self, count: int, what: str) -> list[str]:
        """The next `count` lines; fewer if the recorder exits first."""
        assert self._process.stdout is not None
        now = time.monotonic()
        deadline, check = now + STOP_TIMEOUT_S, now + FIRST_ALIVE_CHECK_S
        while self._buffer.count(b"\n") < count:
            now = time.monotonic()
            if now >= deadline:
                raise LabError(f"{what}: no answer within {STOP_TIMEOUT_S:g} s")
            if now >= check:
                if not self._alive():
                    raise LabError(f"{what}: the probe is gone")
                check = now + ALIVE_CHECK_S
            if select.select([self._process.stdout], [], [], min(deadline, check) - now)[0]:
                chunk = os.read(self._process.stdout.fileno(), 4096)
                if not chunk:
                    return self._buffer.decode(errors="replace").splitlines()
                self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n", count)
        return [line.decode(errors="replace") for line in lines]

    def ask(self, command: str, what: str) -> str:
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(command.encode() + b"\n")
            self._process.stdin.flush()
        except OSError:
            raise LabError(f"{what}: the recorder is gone ({self.errors()})") from None
        answer = self.lines(1, what)
        if not answer:
            raise LabError(f"{what}: the recorder exited ({self.errors()})")
        return answer[0]

    def errors(self) -> str:
        self._errors.seek(0)
        return self._errors.read().decode(errors="replace").strip().replace("\n", " | ") or "no message"

    def close(self, *, wait: bool) -> None:
        """EOF to the recorder (it stops its tools if it has not yet) and our client ended: waited for, when the
        recorder has answered `stop`, else killed."""
        assert self._process.stdin is not None
        with contextlib.suppress(OSError):
            self._process.stdin.close()
        try:
            if wait:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(timeout=STOP_TIMEOUT_S)
        finally:
            if self._process.poll() is None:
                self._process.kill()  # our own `docker exec` client
                self._process.wait(timeout=STOP_TIMEOUT_S)
            assert self._process.stdout is not None
            self._process.stdout.close()
            self._errors.close()


class Capture:
    """Start with `start()`, end with `finish(folder, windows)`; `abort()` stops the tools on any other path."""

    def __init__(self, lab: CaptureLab) -> None:
        self._lab = lab
        self._clock_offset = 0.0  # wall − monotonic in the probe
        self._channel: Channel | None = None  # to the recorder, for the whole case
        self._segments = 0
        self._tracing = False
        # The held-CPU window runs in a thread of its own, inside the canary's untraced clients phase: blocks
        # nest, and the trace is off from the first one's start to the last one's end.
        self._tracer = threading.Condition()
        self._untraced_blocks = 0
        self._untraced_since = 0.0
        self._untraced_reasons: list[str] = []
        self.untraced_spans: list[Untraced] = []  # monotonic stretches the trace was off, and why
        self.trouble: list[str] = []  # what went wrong while the case ran, for the evidence's errors

    def _sh(self, script: str, what: str, *, timeout: float = EXEC_TIMEOUT_S) -> str:
        done = self._lab.exec(PROBE, ["sh", "-c", script], timeout=timeout)
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip()
            raise LabError(f"{what} failed in the probe (exit {done.returncode}): {detail or 'no message'}")
        return done.stdout.decode(errors="replace")

    def _recorder_argv(self) -> list[str]:
        return [engine.require_docker_cli(), "exec", "-i", self._lab.container(PROBE).name,
                *recorder_command(int(self._lab.config.target_port))]

    def start(self) -> None:
        self._channel = channel = Channel(self._recorder_argv(), self._probe_running)
        self._segments, self._tracing = 1, True
        answer = channel.lines(3, "starting tcpdump and strace")
        if answer[:1] != ["ready"] or len(answer) < 3:
            raise LabError(f"tcpdump or strace would not start ({' '.join(answer[:1]) or channel.errors()}): "
                           f"{self._tools_error()}")
        clocks = json.loads(answer[1])
        self._clock_offset = float(clocks["wall"]) - float(clocks["monotonic"])

    def _ask(self, command: str, what: str) -> str:
        """The recorder's answer; a channel that failed once is closed (its recorder stops its tools)."""
        if self._channel is None:
            raise LabError(f"{what}: the recorder is gone")
        try:
            return self._channel.ask(command, what)
        except LabError:
            channel, self._channel = self._channel, None
            channel.close(wait=False)
            raise

    def _attach(self) -> None:
        """The next strace segment, once it writes its log."""
        self._segments += 1
        self._tracing = True
        if self._ask("attach", "attaching strace") != "ready":
            raise LabError(f"strace would not start: {self._tools_error()}")

    def _detach(self) -> None:
        """strace detaches from the target and writes its count table."""
        if not self._tracing:
            return
        self._tracing = False
        if self._ask("detach", "detaching strace") != "detached":
            raise LabError("strace did not end on SIGINT in time: killed (this segment has no count table)")

    @contextlib.contextmanager
    def untraced(self, reason: str = "a CPU window") -> Iterator[None]:
        """No ptrace on the target inside the block; traced again once the last open block ends. A trace that will
        not stop or start again is noted (`trouble`) and never fails the block: the verdicts stand without it."""
        with self._tracer:
            self._untraced_blocks += 1
            if reason not in self._untraced_reasons:
                self._untraced_reasons.append(reason)
            if self._untraced_blocks == 1:
                self._untraced_since = time.monotonic()
                try:
                    self._detach()
                except LabError as error:
                    self.trouble.append(f"detaching strace for {reason}: {error}")
        try:
            yield
        finally:
            with self._tracer:
                self._untraced_blocks -= 1
                if self._untraced_blocks == 0:
                    reasons = " and ".join(self._untraced_reasons)
                    self.untraced_spans.append(Untraced(reasons, self._untraced_since, time.monotonic()))
                    self._untraced_reasons = []
                    try:
                        if self._channel is not None:
                            self._attach()
                    except LabError as error:
                        self.trouble.append(f"attaching strace after {reasons}: {error}")
                    self._tracer.notify_all()

    def _tools_error(self) -> str:
        return self._sh(f"cat {WORK}/tcpdump.err {WORK}/strace.err 2>/dev/null; true", "reading the tools' errors"
                        ).strip().replace("\n", " | ") or "no message"

    def _stop_tools(self) -> None:
        """strace detaches and writes its count table, tcpdump flushes; the recorder exits."""
        with self._tracer:
            if not self._tracer.wait_for(lambda: self._untraced_blocks == 0, timeout=UNTRACED_WAIT_S):
                self.trouble.append(f"an untraced stretch still open after {UNTRACED_WAIT_S:g} s: stopped anyway")
            self._tracing = False
            if self._channel is None:
                return
            answer = self._ask("stop", "stopping tcpdump and strace")
            channel, self._channel = self._channel, None
            channel.close(wait=True)
            if answer != "stopped":
                self.trouble.append("tcpdump or strace did not end on SIGINT in time: killed")

    def abort(self) -> None:
        self._stop_tools()

    def discard(self) -> None:
        """Stop the tools and keep nothing (a case whose checks all passed, in a suite that keeps failures only):
        the files stay in the probe until the next capture's start clears them."""
        with contextlib.suppress(LabError):  # a probe that went down with the target took the tools along
            self._stop_tools()

    def finish(self, folder: Path, windows: list[Window], settled_at: float | None) -> Evidence:
        """Stop, copy the bounded files into `folder`, and sum them up (connections up to `settled_at`, the
        probe's monotonic time of the settle wait's last snapshot). A probe that went down with the target
        (they share a PID namespace) leaves its files behind: they are salvaged from the stopped container."""
        try:
            return self._finish(folder, windows, settled_at)
        except LabError as error:
            if self._probe_running():
                raise
            return self._salvage(folder, reason=str(error))

    def _host_side(self) -> frozenset[str]:
        """The address the host's own requests (the canary, the readiness checks, the fresh GET after the case)
        reach the target from: the gateway of the network its port is published on. Their segments are counted
        apart from the case's clients'. Empty when it cannot be read (then they are counted together)."""
        try:
            config = self._lab.network("edge").attrs["IPAM"]["Config"] or []
        except Exception:  # no such network (a lab of another shape): nothing to set apart
            return frozenset()
        return frozenset(str(entry["Gateway"]) for entry in config if entry.get("Gateway"))

    def _probe_running(self) -> bool:
        probe = self._lab.container(PROBE)
        probe.reload()
        return bool(probe.status == "running")

    def _salvage(self, folder: Path, *, reason: str) -> Evidence:
        """The raw files from the stopped probe: the pcap read here, the trace's log without strace's table."""
        stream, _ = self._lab.container(PROBE).get_archive(WORK)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        with tempfile.TemporaryFile() as archive:
            for chunk in stream:
                archive.write(chunk)
            archive.seek(0)
            with tarfile.open(fileobj=archive) as tar:
                tar.extractall(folder, filter="data")
        raw = folder / Path(WORK).name
        segments = sorted(raw.glob("trace-*.log"), key=lambda path: int(path.stem.split("-")[1]))
        lines = [line for log in segments for line in split_trace(log.read_text(errors="replace"))[0]]
        (folder / "trace-head.log").write_text("\n".join(lines[:TRACE_HEAD_LINES]) + "\n")
        (folder / "trace-tail.log").write_text("\n".join(lines[-TRACE_HEAD_LINES:]) + "\n")
        port, host = int(self._lab.config.target_port), self._host_side()
        packets, host_packets = PacketCounts(), PacketCounts()
        for pcap in sorted(raw.glob("packets.pcap*"), key=lambda path: path.stat().st_mtime):
            data = pcap.read_bytes()
            packets += pcap_counts(data, port, exclude=host)
            host_packets += pcap_counts(data, port, peers=host)
            pcap.rename(folder / pcap.name)
        for log in segments:
            log.unlink()  # unbounded: the head and tail of their log are kept
        for rest in raw.iterdir():
            rest.rename(folder / rest.name)  # the tools' messages and pids
        raw.rmdir()
        accepts, closes = connection_calls(lines)
        return Evidence(folder=str(folder), packets=packets, host_packets=host_packets,
                        syscalls=syscall_counts_from_log(lines),
                        accepts=accepts, closes=closes, last_calls=tuple(last_calls(lines)),
                        untraced=self._wall_untraced(),
                        errors=(f"the probe went down with the target ({reason.splitlines()[0][:120]}); "
                                "files salvaged from the stopped probe",))

    def _finish(self, folder: Path, windows: list[Window], settled_at: float | None) -> Evidence:
        self._stop_tools()
        walls = [(w.label, w.start + self._clock_offset, w.end + self._clock_offset) for w in windows]
        cuts = " ".join(
            f"awk -v a={start:.6f} -v b={end:.6f} '$2 >= a && $2 <= b' {WORK}/trace.log | head -n {WINDOW_LINES} "
            f"> {WORK}/out/trace-window-{index}.log;" for index, (_, start, end) in enumerate(walls))
        # The segments' logs in order make trace.log; their count tables, one after another, syscalls.txt.
        merge = (f": > trace.log; : > out/syscalls.txt; for n in $(seq 0 {self._segments - 1}); do "
                 "sed '/^% time/,$d' trace-$n.log >> trace.log; "
                 "sed -n '/^% time/,$p' trace-$n.log >> out/syscalls.txt; done; ")
        done = self._lab.exec(PROBE, ["sh", "-c", f"mkdir -p {WORK}/out && cd {WORK} && {merge}"
                 f"for f in $(ls -tr packets.pcap* 2>/dev/null); do cp $f out/; "
                 f"tcpdump -nn -tt -r $f 2>/dev/null; done | head -n {PACKET_LINES} > out/packets.txt; "
                 f"head -n {TRACE_HEAD_LINES} trace.log > out/trace-head.log; "
                 f"cp tcpdump.err strace.err out/; "
                 f"grep -E '^ *[0-9]+ +[0-9.]+ (accept4?|close)\\(' trace.log | head -n {CONNECTION_LINES} "
                 f"> out/trace-connections.log; {cuts} tar -C out -cf - ."], timeout=EXEC_TIMEOUT_S)
        if done.returncode != 0:
            raise LabError("collecting the capture and the trace failed in the probe: "
                           f"{done.stderr.decode(errors='replace').strip() or done.returncode}")
        shutil.rmtree(folder, ignore_errors=True)  # a previous run of the same case leaves no file behind
        folder.mkdir(parents=True)
        with tempfile.TemporaryFile() as archive:
            archive.write(done.stdout)
            archive.seek(0)
            with tarfile.open(fileobj=archive) as tar:
                tar.extractall(folder, filter="data")
        evidence = summarise(folder, int(self._lab.config.target_port), [label for label, _, _ in walls],
                             [(start, end) for _, start, end in walls],
                             None if settled_at is None else settled_at + self._clock_offset, self._host_side())
        return dataclasses.replace(evidence, errors=evidence.errors + tuple(self.trouble),
                                   untraced=self._wall_untraced())

    def _wall_untraced(self) -> tuple[Untraced, ...]:
        return tuple(Untraced(span.reason, span.start + self._clock_offset, span.end + self._clock_offset)
                     for span in self.untraced_spans)


def summarise(folder: Path, port: int, labels: list[str], spans: list[tuple[float, float]],
              settled_at: float | None, host: frozenset[str] = frozenset()) -> Evidence:
    """The Evidence of a capture folder (packets.txt, syscalls.txt, trace-connections.log, trace-window-N.log);
    times are the wall clock's. Segments with a `host` address (the lab's own requests) are counted apart."""
    def read(name: str) -> str:
        path = folder / name
        return path.read_text(errors="replace") if path.exists() else ""

    errors = tuple(f"{tool}: {text.strip().splitlines()[-1]}" for tool in ("strace",)
                   if (text := read(f"{tool}.err")).strip())
    windows: dict[str, WindowActivity] = {}
    for index, (label, (start, end)) in enumerate(zip(labels, spans, strict=True)):
        lines, _ = split_trace(read(f"trace-window-{index}.log"))
        windows[label] = window_activity(lines, start, end, truncated=len(lines) >= WINDOW_LINES)
    accepts, closes = connection_calls(read("trace-connections.log").splitlines(), settled_at)
    packets = read("packets.txt")
    return Evidence(folder=str(folder), packets=packet_counts(packets, port, settled_at, exclude=host),
                    host_packets=packet_counts(packets, port, settled_at, peers=host),
                    syscalls=syscall_counts(read("syscalls.txt")), windows=windows, accepts=accepts, closes=closes,
                    errors=errors, settled_at=settled_at)


def capture_windows(history: Any, untraced: list[Untraced] | None = None) -> tuple[list[Window], list[str]]:
    """The windows the trace is summed up over, in the probe's monotonic clock (lab.chaos.model.history.CaseHistory: its
    events are relative to `started`, on the same clock): for each CPU window (labelled as the cpu_spin check labels
    them) as long a stretch from the moment the trace was attached again after it (the window itself ran
    untraced), if that came right after it, and the settle wait. Without `untraced`, the CPU windows themselves.
    Second, what was not traced: CPU windows with no stretch right after them."""
    pairs: list[tuple[str, Any]] = [("after the case", history.idle_cpu),
                                    ("while connections were held", history.held_cpu)]
    windows: list[Window] = []
    missed: list[str] = []
    for label, cpu in pairs:
        if cpu is None:
            continue
        start, end = cpu.start.t, cpu.end.t
        if untraced is not None:
            around = min((span for span in untraced if span.end >= end), key=lambda span: span.end, default=None)
            if around is None or around.end - end > RESUME_SLACK_S:
                # Never traced again, or only once a longer stretch around the window (the canary's) ended.
                missed.append(f"the CPU window {label}: no stretch right after it was traced"
                              + (f" (the trace was off {around.end - end:.1f} s longer: {around.reason})"
                                 if around is not None else ""))
                continue
            start, end = around.end, around.end + (end - start)
        windows.append(Window(label, start, end))
    done = next((t for t, text in history.events if text.startswith("clients done")), None)
    if history.started is not None and done is not None and history.settled is not None:
        windows.append(Window("during the settle wait", history.started + done, history.settled.t))
    return windows, missed
