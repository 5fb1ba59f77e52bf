"""Observe a target from a sidecar that shares its PID and network namespaces.

Standard library only: this file is the whole probe image. The target's processes are the
ones in PID 1's cgroup (the probe's own processes live in another), so any image works,
with or without a shell. Output is one JSON object per snapshot (docs/architecture.md).
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
    "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
    "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING", "0C": "NEW_SYN_RECV",
}
PROC = os.environ.get("PROBE_PROC", "/proc")


def read_text(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as handle:
        return handle.read()


def target_pids() -> list[int]:
    """PIDs that share PID 1's cgroup: the target container, never the probe."""
    target_cgroup = read_text(f"{PROC}/1/cgroup")
    pids = []
    for name in os.listdir(PROC):
        if not name.isdigit():
            continue
        try:
            if read_text(f"{PROC}/{name}/cgroup") == target_cgroup:
                pids.append(int(name))
        except OSError:  # the process exited while we looked
            continue
    return sorted(pids)


def fd_kind(link: str) -> str:
    if link.startswith("socket:"):
        return "socket"
    if link.startswith("pipe:"):
        return "pipe"
    if link.startswith("anon_inode:"):
        return "anon"
    if link.startswith("/"):
        return "file"
    return "other"


def count_fds(pids: list[int]) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for pid in pids:
        fd_dir = f"{PROC}/{pid}/fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        for name in names:
            try:
                kinds[fd_kind(os.readlink(f"{fd_dir}/{name}"))] += 1
            except OSError:  # closed between listdir and readlink
                continue
    return kinds


def tcp_states() -> Counter[str]:
    """Socket states in the shared network namespace (IPv4 and IPv6)."""
    return tcp_table()[0]


def tcp_table() -> tuple[Counter[str], int]:
    """Socket states in the shared network namespace (IPv4 and IPv6), and the bytes received that wait unread in
    connected sockets' receive queues (input the target has still to process; a LISTEN socket's count is its
    accept queue, not bytes, and is left out)."""
    states: Counter[str] = Counter()
    queued = 0
    for table in ("tcp", "tcp6"):
        try:
            lines = read_text(f"{PROC}/net/{table}").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 4:
                states[TCP_STATES.get(fields[3], fields[3])] += 1
                if fields[3] != "0A":
                    queued += int(fields[4].partition(":")[2] or "0", 16)  # tx_queue:rx_queue, in hex
    return states, queued


# CPU time in nanoseconds from the scheduler (/proc/PID/task/TID/schedstat: time on a CPU), where the kernel
# has it: utime + stime count 10 ms ticks, too coarse for a window of a second (5 % is 5 ticks).
NANOS = 1_000_000_000
HAS_SCHEDSTAT = os.path.exists("/proc/self/schedstat")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def stat_fields(text: str) -> list[str]:
    """The fields of a /proc stat file after the command name (which may hold spaces and parentheses)."""
    return text[text.rindex(")") + 2 :].split()


# Fields of /proc/PID/stat counted from the state (field 3 of proc(5)) on.
UTIME, STIME, CUTIME, CSTIME, STARTTIME = 11, 12, 13, 14, 19


@dataclass
class ProcessReading:
    """What one reading found of one process: CPU (in the snapshot's units), and the counters beside it."""

    start_ticks: int
    cpu: int
    rss_kib: int
    peak_kib: int
    io_bytes: int  # rchar + wchar; -1 when /proc/PID/io could not be read
    wakeups: dict[int, int]  # voluntary context switches per live thread
    run_waits: dict[int, int]  # ns each live thread waited, runnable, for a CPU (schedstat); empty without it


@dataclass
class StreamState:
    """What a stream of readings remembers, so that its totals never go back: a thread that exits keeps its CPU
    and its wakeups, a process's CPU never drops (its ticks are truncated, its live threads' nanoseconds are not)."""

    cpu: dict[tuple[int, int], int] = field(default_factory=dict)  # (pid, start ticks) -> the most CPU seen
    dead_nanos: dict[tuple[int, int], int] = field(default_factory=dict)  # CPU of exited threads
    wakeups: dict[tuple[int, int], dict[int, int]] = field(default_factory=dict)  # -> thread -> last count
    run_waits: dict[tuple[int, int], dict[int, int]] = field(default_factory=dict)  # the same, ns waited
    longest_wait: int = -1  # ns one thread waited for a CPU between the last two readings; -1: no reading before


def read_process(pid: int, state: StreamState) -> ProcessReading | None:
    """One process's reading, or None if it exited meanwhile. Its CPU covers its live threads (nanoseconds
    where schedstat is), its exited threads and its reaped children (ticks: what the kernel keeps of them)."""
    try:
        fields = stat_fields(read_text(f"{PROC}/{pid}/stat"))
        status = read_text(f"{PROC}/{pid}/status")
        tids = os.listdir(f"{PROC}/{pid}/task")
    except (OSError, ValueError):
        return None
    key = (pid, int(fields[STARTTIME]))
    process_ticks = int(fields[UTIME]) + int(fields[STIME])
    children_ticks = int(fields[CUTIME]) + int(fields[CSTIME])
    live_nanos = 0
    wakeups: dict[int, int] = {}
    run_waits: dict[int, int] = {}
    for tid in tids:
        try:
            if HAS_SCHEDSTAT:
                on_cpu, waited = read_text(f"{PROC}/{pid}/task/{tid}/schedstat").split()[:2]
                live_nanos += int(on_cpu)
                run_waits[int(tid)] = int(waited)
            wakeups[int(tid)] = status_value(read_text(f"{PROC}/{pid}/task/{tid}/status"),
                                             "voluntary_ctxt_switches:")
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile: its CPU is in the process's ticks from now on
    if HAS_SCHEDSTAT:
        # The process's ticks are all its threads' time, exited ones too, truncated to a tick: less the live
        # threads' exact nanoseconds, what remains is the exited threads' (short by under a tick, never over).
        dead = state.dead_nanos[key] = max(state.dead_nanos.get(key, 0),
                                           process_ticks * NANOS // CLK_TCK - live_nanos)
        cpu = live_nanos + dead + children_ticks * NANOS // CLK_TCK
    else:
        cpu = process_ticks + children_ticks
    cpu = state.cpu[key] = max(state.cpu.get(key, 0), cpu)
    return ProcessReading(start_ticks=key[1], cpu=cpu, rss_kib=status_value(status, "VmRSS:"),
                          peak_kib=status_value(status, "VmHWM:"), io_bytes=io_bytes(pid), wakeups=wakeups,
                          run_waits=run_waits)


def status_value(status: str, name: str) -> int:
    """A number from a /proc status file (kB for sizes); 0 when the line is absent (a kernel thread's VmRSS)."""
    for line in status.splitlines():
        if line.startswith(name):
            return int(line.split()[1])
    return 0


def io_bytes(pid: int) -> int:
    """Bytes the process read and wrote through any syscall (sockets, pipes, files); -1 when unreadable."""
    try:
        counters = dict(line.split(":", 1) for line in read_text(f"{PROC}/{pid}/io").splitlines() if ":" in line)
        return int(counters["rchar"]) + int(counters["wchar"])
    except (OSError, ValueError, KeyError):
        return -1


def net_bytes() -> int:
    """Bytes received and sent on the shared network namespace's interfaces (loopback aside: the lab's clients and
    canary reach the target over its network), -1 when unreadable. rchar and wchar miss most of this: recv, send
    and sendfile on a socket do not pass through read() and write()."""
    try:
        lines = read_text(f"{PROC}/net/dev").splitlines()[2:]
        total = 0
        for line in lines:
            name, counters = line.split(":", 1)
            if name.strip() != "lo":
                fields = counters.split()
                total += int(fields[0]) + int(fields[8])  # receive bytes, transmit bytes
        return total
    except (OSError, ValueError, IndexError):
        return -1


def read_processes(pids: list[int], state: StreamState) -> dict[int, ProcessReading]:
    readings = {pid: reading for pid in pids if (reading := read_process(pid, state)) is not None}
    first = not state.wakeups  # filled below: empty at a stream's first reading
    longest_wait = 0
    for pid, reading in readings.items():  # a thread's wakeups and waits stay counted after it exits
        waited = state.run_waits.get((pid, reading.start_ticks), {})
        # A thread not seen before began after the last reading (but at a stream's first): all its wait is new.
        longest_wait = max([longest_wait, *(count - waited.get(tid, 0) for tid, count in reading.run_waits.items())])
        for kept, counts in ((state.wakeups, reading.wakeups), (state.run_waits, reading.run_waits)):
            seen = kept.setdefault((pid, reading.start_ticks), {})
            for tid, count in counts.items():
                seen[tid] = max(seen.get(tid, 0), count)
    state.longest_wait = -1 if first or not HAS_SCHEDSTAT else longest_wait
    alive = {(pid, reading.start_ticks) for pid, reading in readings.items()}
    for table in (state.cpu, state.dead_nanos, state.wakeups, state.run_waits):
        for key in [key for key in table if key not in alive]:
            del table[key]  # a process gone: the sum drops, as its parent's reaped-children ticks take it up
    return readings


def cpu_and_rss(pids: list[int], state: StreamState | None = None) -> tuple[int, int, int]:
    """(CPU time in units of the third value per second, RSS bytes, units per second)."""
    readings = read_processes(pids, state or StreamState())
    return (sum(r.cpu for r in readings.values()), sum(r.rss_kib for r in readings.values()) * 1024,
            NANOS if HAS_SCHEDSTAT else CLK_TCK)


def start_ticks() -> int:
    return int(stat_fields(read_text(f"{PROC}/1/stat"))[STARTTIME])


def snapshot(state: StreamState | None = None) -> dict[str, Any]:
    """One reading; `state` carries a stream's memory from one reading to the next (see StreamState)."""
    state = state or StreamState()
    pids = target_pids()
    kinds = count_fds(pids)
    processes = read_processes(pids, state)
    io = [reading.io_bytes for reading in processes.values()]
    states, rx_queued = tcp_table()
    return {
        "t": time.monotonic(),
        "pids": pids,
        "fds": sum(kinds.values()),
        "fd_kinds": {kind: kinds.get(kind, 0) for kind in ("socket", "pipe", "file", "anon", "other")},
        "tcp": dict(states),
        # CPU time in units of clk_tck per second (nanoseconds where schedstat is), exited threads and reaped
        # children included
        "cpu_ticks": sum(reading.cpu for reading in processes.values()),
        "clk_tck": NANOS if HAS_SCHEDSTAT else CLK_TCK,
        "rss_bytes": sum(reading.rss_kib for reading in processes.values()) * 1024,
        "start_ticks": start_ticks(),
        "rss_peak_bytes": sum(reading.peak_kib for reading in processes.values()) * 1024,
        "io_bytes": -1 if not io or -1 in io else sum(io),
        "wakeups": sum(sum(state.wakeups.get((pid, r.start_ticks), {}).values()) for pid, r in processes.items()),
        # the longest one of the target's threads waited, runnable, for a CPU since the stream's last reading: a
        # busy host's time, not the server's (-1: no reading before, or no schedstat)
        "run_wait_ns": state.longest_wait,
        "procs": [[pid, reading.start_ticks] for pid, reading in sorted(processes.items())],
        "net_bytes": net_bytes(),
        "rx_queued": rx_queued,
    }


def reset_peak() -> dict[str, Any]:
    """Reset each target process's VmHWM to its RSS ("5" in clear_refs), where the kernel allows it, and say
    whether it did: a peak read afterwards then belongs to the case, not to what ran before it."""
    done: list[int] = []
    errors: list[str] = []
    for pid in target_pids():
        try:
            with open(f"{PROC}/{pid}/clear_refs", "w", encoding="ascii") as handle:
                handle.write("5")
            done.append(pid)
        except OSError as error:
            errors.append(f"pid {pid}: {error.strerror or error}")
    return {"ok": bool(done) and not errors, "reset": done, "errors": errors}


def watch(interval: float, duration: float, *, until_eof: bool = False) -> None:
    """One snapshot per line every `interval` seconds. A reading that costs more (thousands of sockets) spaces the
    next one out, so the agent takes at most a third of a core. `until_eof`: stop when stdin closes, which is how
    the host ends a stream (and how a host that died ends it too); a line on stdin asks for a reading at once, and
    a line "reset" resets the peak RSS first and says so ({"reset_peak": ...}): one stream serves case after case."""
    deadline = time.monotonic() + duration
    state = StreamState()
    while True:
        taken = time.monotonic()
        try:
            print(json.dumps(snapshot(state)), flush=True)
        except BrokenPipeError:
            return
        cost = time.monotonic() - taken
        pause = max(interval - cost, 2 * cost)
        if time.monotonic() + pause > deadline:
            return
        if not until_eof:
            time.sleep(pause)  # a sampling period, not a wait for a condition
        elif select.select([sys.stdin], [], [], pause)[0]:
            asked = os.read(sys.stdin.fileno(), 4096)
            if not asked:
                return  # EOF; a line instead asks for the next reading now
            if b"reset" in asked:
                try:
                    print(json.dumps({"reset_peak": reset_peak(), "t": time.monotonic()}), flush=True)
                except BrokenPipeError:
                    return


def health() -> int:
    """Healthy when the target's fds are readable: no traffic to the target."""
    try:
        os.listdir(f"{PROC}/1/fd")
    except OSError as error:
        print(f"probe: cannot read {PROC}/1/fd: {error}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    usage = ("usage: agent.py snapshot | watch --interval S --duration S [--until-eof] | health | pids | clocks"
             " | reset-peak")
    if argv[:1] == ["pids"]:  # the target's processes, for `strace -p`
        print(" ".join(str(pid) for pid in target_pids()))
        return 0
    if argv[:1] == ["clocks"]:  # snapshots use the monotonic clock, strace -ttt the wall clock
        print(json.dumps({"monotonic": time.monotonic(), "wall": time.time()}))
        return 0
    if argv[:1] == ["snapshot"]:
        print(json.dumps(snapshot()))
        return 0
    if argv[:1] == ["reset-peak"]:  # prints whether it worked; the host decides what that means
        print(json.dumps(reset_peak()))
        return 0
    if argv[:1] == ["health"]:
        return health()
    if argv[:1] == ["watch"]:
        until_eof = "--until-eof" in argv
        rest = [arg for arg in argv[1:] if arg != "--until-eof"]
        options = dict(zip(rest[0::2], rest[1::2], strict=False))
        try:
            interval = float(options.get("--interval", "0.2"))
            duration = float(options.get("--duration", "10"))
        except ValueError:
            print(usage, file=sys.stderr)
            return 2
        if not (0.01 <= interval <= 60 and 0 < duration <= 3600):
            print("probe: --interval must be 0.01..60 s and --duration 0..3600 s", file=sys.stderr)
            return 2
        watch(interval, duration, until_eof=until_eof)
        return 0
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
