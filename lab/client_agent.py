"""The host's end of `python -m clients serve` (clients/serve.py) in a clients container.

A case used to start each client with a `docker exec` and a Python start-up in the container: about 130 ms of CPU
each, on a machine whose CPU is the suite's limit. The agent is one `docker exec -i` for the lab's lifetime; each
client run is a request on its stdin and an answer on its stdout. An agent that ended (its container was stopped
or restarted by a fault) is started again on the next request.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import threading
from typing import Any

from lab.errors import LabError

CLIENTS_MODULE = ("python3", "-m", "clients")  # how the clients container runs the clients, directly or as `serve`
CLOSE_WAIT_S = 5.0  # an agent asked to end (EOF) waits for its running clients, each bounded by its limit


class ClientAgent:
    """Runs client commands (argv after `python3 -m clients`) through one long-lived `clients serve`."""

    def __init__(self, command: list[str]) -> None:
        self._command = command  # e.g. ["docker", "exec", "-i", NAME, "python3", "-m", "clients", "serve"]
        self._lock = threading.Lock()  # one writer at a time; the process and the waiting requests
        self._process: subprocess.Popen[bytes] | None = None
        self._waiting: dict[int, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._ids = itertools.count(1)
        self._ended: str | None = None  # why the current process stopped answering

    def _started(self) -> subprocess.Popen[bytes]:
        """The running agent process, started when there is none or the last one ended. Holds the lock."""
        if self._process is None or self._process.poll() is not None or self._ended is not None:
            if self._process is not None:
                self._reap(self._process)
            self._ended = None
            try:
                process = subprocess.Popen(self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE)
            except OSError as error:
                raise LabError(f"cannot start the clients agent: {error}") from None
            threading.Thread(target=self._read_answers, args=(process,), name="client-agent", daemon=True).start()
            self._process = process
        return self._process

    def _read_answers(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                answer = json.loads(line)
                request_id = int(answer["id"])
            except (ValueError, KeyError, TypeError):
                continue  # a bad request's answer has no id: its caller times out and says so
            with self._lock:
                waiting = self._waiting.pop(request_id, None)
            if waiting is not None:
                waiting[1].append(answer)
                waiting[0].set()
        detail = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
        with self._lock:
            if self._process is process:
                self._ended = f"the clients agent ended: {detail[:200] or 'no message'}"
                for event, _ in self._waiting.values():
                    event.set()  # each caller sees no answer and says why
                self._waiting.clear()

    def run(self, argv: list[str], *, limit_s: float, timeout: float) -> subprocess.CompletedProcess[bytes]:
        """Run `python3 -m clients ARGV` in the container, killed there after `limit_s`; LabError when no answer
        comes within `timeout` or the agent ended meanwhile."""
        event, answers = threading.Event(), list[dict[str, Any]]()
        with self._lock:
            process = self._started()
            request_id = next(self._ids)
            self._waiting[request_id] = (event, answers)
            request = json.dumps({"id": request_id, "argv": argv, "limit_s": limit_s}).encode() + b"\n"
            try:
                assert process.stdin is not None
                process.stdin.write(request)
                process.stdin.flush()
            except (OSError, ValueError) as error:
                self._waiting.pop(request_id, None)
                self._ended = f"the clients agent stopped reading: {error}"
                raise LabError(self._ended) from None
        if not event.wait(timeout) or not answers:
            with self._lock:
                self._waiting.pop(request_id, None)
                why = self._ended or f"no answer within {timeout:g} s"
            raise LabError(f"`{' '.join(argv[:2])} …` through the clients agent: {why}")
        answer = answers[0]
        return subprocess.CompletedProcess(argv, int(answer["code"]), str(answer["stdout"]).encode(),
                                           str(answer["stderr"]).encode())

    def close(self) -> None:
        """End the agent: EOF, then a kill if it does not end within CLOSE_WAIT_S."""
        with self._lock:
            process, self._process = self._process, None
        if process is not None:
            self._reap(process)

    @staticmethod
    def _reap(process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(OSError, ValueError):
            if process.stdin is not None:
                process.stdin.close()
        try:
            process.wait(timeout=CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=CLOSE_WAIT_S)
