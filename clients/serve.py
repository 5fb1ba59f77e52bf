"""``python -m clients serve``: the lab's client runs without a ``docker exec`` and an interpreter start each.

One request per stdin line, JSON: ``{"id": ..., "argv": ["run", ...], "limit_s": S}``. Each runs ``cli.main(argv)``
in a child forked from this process (the modules are imported once, here), its stdout and stderr captured. One
answer per stdout line when it ends: ``{"id", "code", "stdout", "stderr"}``. A child past ``limit_s`` is killed
(code -9), as ``timeout -s KILL`` did. EOF ends the requests: serve exits once its children have ended (each
within its limit).

The loop is one thread (selectors): forking a process that has other threads can copy a held lock.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import IO, Any

from clients.cli import main as cli_main

MAX_LIMIT_S = 3600.0


@dataclass
class Child:
    request_id: Any
    pid: int
    deadline: float
    output: dict[int, bytearray] = field(default_factory=dict)  # fd -> bytes read (stdout, stderr)
    open_fds: set[int] = field(default_factory=set)
    killed: bool = False


def _run_child(argv: list[str], out_w: int, err_w: int) -> int:
    """In the forked child: the clients' CLI with fds 1 and 2 on the pipes; its exit code."""
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    try:
        code = cli_main(argv)
    except SystemExit as done:  # argparse's errors
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if isinstance(done.code, str):
            print(done.code, file=sys.stderr)
    except BaseException:  # a child reports what went wrong and exits: nothing after it may run
        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        pass
    return code


def parse_request(line: bytes) -> tuple[Any, list[str], float]:
    """A request's id, argv and limit; ValueError for anything else."""
    request = json.loads(line)
    if not isinstance(request, dict):
        raise ValueError("a request is a JSON object")
    argv, limit = request.get("argv"), request.get("limit_s")
    if not isinstance(argv, list) or not all(isinstance(arg, str) for arg in argv):
        raise ValueError("argv must be a list of strings")
    if not isinstance(limit, int | float) or not 0 < limit <= MAX_LIMIT_S:
        raise ValueError(f"limit_s must be a number of seconds in (0, {MAX_LIMIT_S:g}]")
    return request.get("id"), argv, float(limit)


class Server:
    def __init__(self, requests: IO[bytes], answers: IO[str]) -> None:
        self._requests = requests
        self._answers = answers
        self._selector = selectors.DefaultSelector()
        self._children: dict[int, Child] = {}  # by pid
        self._pending = b""

    def _answer(self, request_id: Any, code: int, stdout: bytes, stderr: bytes) -> None:
        self._answers.write(json.dumps({"id": request_id, "code": code, "stdout": stdout.decode(errors="replace"),
                                        "stderr": stderr.decode(errors="replace")}) + "\n")
        self._answers.flush()

    def _start(self, line: bytes) -> None:
        try:
            request_id, argv, limit = parse_request(line)
        except ValueError as error:
            self._answer(None, 2, b"", f"clients serve: bad request: {error}".encode())
            return
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self._answers.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(out_r)
                os.close(err_r)
                code = _run_child(argv, out_w, err_w)
            finally:
                os._exit(code)
        os.close(out_w)
        os.close(err_w)
        child = Child(request_id, pid, time.monotonic() + limit, {out_r: bytearray(), err_r: bytearray()},
                      {out_r, err_r})
        self._children[pid] = child
        for fd in (out_r, err_r):
            self._selector.register(fd, selectors.EVENT_READ, child)

    def _read_child(self, fd: int, child: Child) -> None:
        data = os.read(fd, 65536)
        if data:
            child.output[fd] += data
            return
        self._selector.unregister(fd)
        os.close(fd)
        child.open_fds.discard(fd)
        if not child.open_fds:  # both pipes closed: the child has exited (or is about to)
            _, status = os.waitpid(child.pid, 0)
            del self._children[child.pid]
            code = -9 if child.killed else os.waitstatus_to_exitcode(status)
            stdout, stderr = (bytes(buffer) for buffer in child.output.values())
            self._answer(child.request_id, code, stdout, stderr)

    def _read_requests(self) -> bool:
        """Start each whole line's request; False on EOF."""
        data = os.read(self._requests.fileno(), 65536)
        if not data:
            return False
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        for line in lines:
            if line.strip():
                self._start(line)
        return True

    def _kill_overdue(self) -> None:
        now = time.monotonic()
        for child in self._children.values():
            if not child.killed and now >= child.deadline:
                child.killed = True
                os.kill(child.pid, signal.SIGKILL)

    def serve(self) -> int:
        self._selector.register(self._requests.fileno(), selectors.EVENT_READ, None)
        reading = True
        try:
            while reading or self._children:
                deadlines = [child.deadline for child in self._children.values() if not child.killed]
                timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
                for key, _ in self._selector.select(timeout):
                    if key.data is None:
                        if not self._read_requests():
                            self._selector.unregister(key.fd)
                            reading = False
                    else:
                        self._read_child(int(key.fd), key.data)
                self._kill_overdue()
            return 0
        finally:
            for child in self._children.values():
                os.kill(child.pid, signal.SIGKILL)
                os.waitpid(child.pid, 0)


def main() -> int:
    return Server(sys.stdin.buffer, sys.stdout).serve()
