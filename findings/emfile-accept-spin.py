#!/usr/bin/env python3
"""Does the server spin when accept() fails with EMFILE? (the listening socket stays readable)

Standard library only; needs the server running with a small open-file limit (e.g. `ulimit -n 64`, or
`docker run --ulimit nofile=64:64`) and its process id, whose CPU time it reads from /proc (run as the same user,
or as root). Usage:

    python3 emfile-accept-spin.py HOST:PORT --pid PID [--connections 200] [--seconds 2]

It opens more connections than the server has descriptors for and holds them, silent. A loop whose accept()
fails with EMFILE and that leaves the pending connection in the queue is woken at once by the still-readable
listening socket: it spins (and logs the error each time). A correct loop backs off, or accepts and closes the
extra connection with a spare descriptor, and sleeps: it holds idle connections at ~0 % of a core.

Exit 1 and "affected: ..." when the server, holding only idle connections, uses over half a core or makes over
a hundred write calls a second (a traceback logged per failed accept: the log pipe can throttle the spin well
below a core); exit 0 and "not affected: ..." when it stays under a tenth of a core and writes next to nothing;
exit 2 when it cannot tell (in between, or its fd limit is too large to reach).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time

SPIN_SHARE = 0.5  # a loop with nothing to do sleeps in epoll_wait; half a core is a spin, not work
IDLE_SHARE = 0.1
BUSY_WRITES_PER_S = 100  # an idle server writes nothing; a log line per failed accept() is thousands a second


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (every thread, the exited ones too)."""
    with open(f"/proc/{pid}/stat") as handle:
        stat = handle.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_calls(pid: int) -> int:
    """Write-like system calls the process has made (syscw of /proc/PID/io): every log line is one."""
    with open(f"/proc/{pid}/io") as handle:
        for line in handle:
            if line.startswith("syscw:"):
                return int(line.split()[1])
    raise ValueError(f"/proc/{pid}/io has no syscw")


def open_files_limit(pid: int) -> int | None:
    with open(f"/proc/{pid}/limits") as handle:
        for line in handle:
            if line.startswith("Max open files"):
                soft = line.split()[3]
                return None if soft == "unlimited" else int(soft)
    return None


def hold(address: tuple[str, int], count: int) -> list[socket.socket]:
    held = []
    for _ in range(count):
        try:
            held.append(socket.create_connection(address, timeout=1))
        except OSError:  # a full backlog refuses or drops the rest: enough are pending already
            break
    return held


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="HOST:PORT")
    parser.add_argument("--pid", type=int, required=True, help="the server's process id (its CPU is read)")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=2.0, help="how long CPU is measured while holding")
    args = parser.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    try:
        limit = open_files_limit(args.pid)
        if limit is None or limit >= args.connections:
            print(f"cannot tell: the server's open-file limit is {limit or 'unlimited'}; run it with fewer "
                  f"than {args.connections} (ulimit -n 64)")
            return 2
        held = hold((host, int(port)), args.connections)
        try:
            time.sleep(0.5)  # the server meets its limit: let the accepts it can make settle
            before, writes_before, started = cpu_seconds(args.pid), write_calls(args.pid), time.monotonic()
            time.sleep(args.seconds)  # a measuring window, not a wait for a condition
            elapsed = time.monotonic() - started
            share = (cpu_seconds(args.pid) - before) / elapsed
            writes = (write_calls(args.pid) - writes_before) / elapsed
        finally:
            for connection in held:
                connection.close()
    except (OSError, ValueError) as error:
        print(f"cannot tell: {error}")
        return 2
    text = (f"{share:.0%} of a core and {writes:.0f} write calls/s over {args.seconds:g} s while {len(held)} idle "
            f"connections were held against an open-file limit of {limit}")
    if share > SPIN_SHARE or writes > BUSY_WRITES_PER_S:
        print(f"affected: {text} (EMFILE on accept leaves the listening socket readable: the loop spins)")
        return 1
    if share < IDLE_SHARE and writes < BUSY_WRITES_PER_S / 10:
        print(f"not affected: {text}")
        return 0
    print(f"cannot tell: {text}")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
