"""worker_respawn (bug zoo): a supervisor that forks one worker and forks a new one whenever it dies.

The worker serves the listener it inherits; the supervisor keeps its own copy open to hand to the
next worker, forwards SIGTERM/SIGINT, and exits once a worker it asked to stop has exited. A worker
that dies of a client's reset is replaced within milliseconds: the container stays up, and only the
worker's pid and start time show that a process died.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}

Serve = Callable[[socket.socket], int]  # runs the event loop in a worker; its exit code


def _fork_worker(listener: socket.socket, serve: Serve) -> int:
    """Fork with the stop signals blocked: the worker unblocks them once its own handlers are in place."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = serve(listener)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        return pid
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def supervise_respawning(listener: socket.socket, serve: Serve, announce: Callable[[], None]) -> int:
    """Run one worker at a time until a stop signal; 0 when the last worker exited cleanly."""
    stopping = False
    worker = _fork_worker(listener, serve)

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    announce()
    while True:
        _, status = os.waitpid(worker, 0)  # retried after a signal handler runs (PEP 475)
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            return 0 if code == 0 else 1
        print(f"worker {worker} exited with {code}: respawning", file=sys.stderr, flush=True)
        worker = _fork_worker(listener, serve)
        if stopping:  # a stop signal came while the new worker was forked: it never saw it
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGTERM)
