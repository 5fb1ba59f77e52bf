"""A stand-in for tcpdump and strace in the recorder's tests: it records until SIGINT, as they do.

stand_in_tool.py [--ignore-int] [-p PID]... [-o FILE]: with -o it creates FILE (strace, once attached) and ends
it with a `% time` line (strace's count table) on SIGINT; without -o it says `listening on` on stderr (tcpdump).
It leaves `running-PID` in its working directory, so a test can see that it is gone afterwards.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

args = sys.argv[1:]
out = Path(args[args.index("-o") + 1]) if "-o" in args else None
deaf = "--ignore-int" in args
if deaf:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
else:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # held until sigwait: none is missed
Path(f"running-{os.getpid()}").touch()
if out is not None:
    out.write_text(f"{os.getpid()} 1.000000 epoll_wait(3, [], 64, 100) = 0 <0.1>\n")
else:
    print("listening on stand-in", file=sys.stderr, flush=True)
while deaf:
    signal.pause()  # until SIGKILL
signal.sigwait({signal.SIGINT})
if out is not None:
    with out.open("a") as log:
        log.write("% time     seconds  usecs/call     calls    errors syscall\n")
