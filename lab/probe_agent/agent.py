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
    states: Counter[str] = Counter()
    for table in ("tcp", "tcp6"):
        try:
            lines = read_text(f"{PROC}/net/{table}").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3:
                states[TCP_STATES.get(fields[3], fields[3])] += 1
    return states


# CPU time in nanoseconds from the scheduler (/proc/PID/task/TID/schedstat: time on a CPU), where the kernel
# has it: utime + stime count 10 ms ticks, too coarse for a window of a second (5 % is 5 ticks).
NANOS = 1_000_000_000
HAS_SCHEDSTAT = os.path.exists("/proc/self/schedstat")


def task_nanos(pid: int) -> int:
    total = 0
    for tid in os.listdir(f"{PROC}/{pid}/task"):
        try:
            total += int(read_text(f"{PROC}/{pid}/task/{tid}/schedstat").split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
    return total


def cpu_and_rss(pids: list[int]) -> tuple[int, int, int]:
    """(CPU time in units of the third value per second, RSS bytes, units per second)."""
    cpu = rss_kib = 0
    for pid in pids:
        try:
            stat = read_text(f"{PROC}/{pid}/stat")
            status = read_text(f"{PROC}/{pid}/status")
            if HAS_SCHEDSTAT:
                cpu += task_nanos(pid)
        except OSError:
            continue
        if not HAS_SCHEDSTAT:
            # The command name may hold spaces and parentheses: split after the last ')'.
            fields = stat[stat.rindex(")") + 2 :].split()
            cpu += int(fields[11]) + int(fields[12])  # utime + stime
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss_kib += int(line.split()[1])
    return cpu, rss_kib * 1024, NANOS if HAS_SCHEDSTAT else os.sysconf("SC_CLK_TCK")


def start_ticks() -> int:
    stat = read_text(f"{PROC}/1/stat")
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def snapshot() -> dict[str, Any]:
    pids = target_pids()
    kinds = count_fds(pids)
    cpu, rss, per_second = cpu_and_rss(pids)
    return {
        "t": time.monotonic(),
        "pids": pids,
        "fds": sum(kinds.values()),
        "fd_kinds": {kind: kinds.get(kind, 0) for kind in ("socket", "pipe", "file", "anon", "other")},
        "tcp": dict(tcp_states()),
        "cpu_ticks": cpu,  # CPU time in units of clk_tck per second (nanoseconds where schedstat is)
        "clk_tck": per_second,
        "rss_bytes": rss,
        "start_ticks": start_ticks(),
    }


def watch(interval: float, duration: float, *, until_eof: bool = False) -> None:
    """One snapshot per line every `interval` seconds. A reading that costs more (thousands of sockets) spaces the
    next one out, so the agent takes at most a third of a core. `until_eof`: stop when stdin closes, which is how
    the host ends a stream (and how a host that died ends it too); a line on stdin asks for a reading at once."""
    deadline = time.monotonic() + duration
    while True:
        taken = time.monotonic()
        try:
            print(json.dumps(snapshot()), flush=True)
        except BrokenPipeError:
            return
        cost = time.monotonic() - taken
        pause = max(interval - cost, 2 * cost)
        if time.monotonic() + pause > deadline:
            return
        if not until_eof:
            time.sleep(pause)  # a sampling period, not a wait for a condition
        elif select.select([sys.stdin], [], [], pause)[0] and not os.read(sys.stdin.fileno(), 4096):
            return  # EOF; a line instead asks for the next reading now


def health() -> int:
    """Healthy when the target's fds are readable: no traffic to the target."""
    try:
        os.listdir(f"{PROC}/1/fd")
    except OSError as error:
        print(f"probe: cannot read {PROC}/1/fd: {error}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    usage = "usage: agent.py snapshot | watch --interval S --duration S [--until-eof] | health | pids | clocks"
    if argv[:1] == ["pids"]:  # the target's processes, for `strace -p`
        print(" ".join(str(pid) for pid in target_pids()))
        return 0
    if argv[:1] == ["clocks"]:  # snapshots use the monotonic clock, strace -ttt the wall clock
        print(json.dumps({"monotonic": time.monotonic(), "wall": time.time()}))
        return 0
    if argv[:1] == ["snapshot"]:
        print(json.dumps(snapshot()))
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
