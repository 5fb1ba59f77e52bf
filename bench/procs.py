"""Child processes that are always reaped (each in its own process group), and what /proc says about them."""

from __future__ import annotations

import contextlib
import os
import resource
import select
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CLK_TCK = os.sysconf("SC_CLK_TCK")
STOP_GRACE_S = 3.0


@dataclass(frozen=True)
class Cores:
    """The server under test runs on one core, the load generator and helpers on another."""

    server: int | None
    load: int | None

    @classmethod
    def detect(cls) -> Cores:
        available = sorted(os.sched_getaffinity(0))
        if len(available) < 2:
            return cls(None, None)  # one core: pinning would only serialize server and load
        return cls(available[0], available[1])

    def on_server(self, argv: Sequence[str]) -> list[str]:
        return _pinned(self.server, argv)

    def on_load(self, argv: Sequence[str]) -> list[str]:
        return _pinned(self.load, argv)


def _pinned(core: int | None, argv: Sequence[str]) -> list[str]:
    # taskset execs the command, so the pid we get is the program's own.
    return list(argv) if core is None else ["taskset", "-c", str(core), *argv]


def raise_nofile() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (what `ulimit -n $(ulimit -Hn)` does); returns it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


@contextlib.contextmanager
def spawned(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: int | None = subprocess.DEVNULL,
    stdout: int | IO[bytes] | None = subprocess.DEVNULL,
    stderr: int | IO[bytes] | None = None,
    preexec: Callable[[], object] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv`` in a new session; on every exit path stop its whole process group."""
    proc = subprocess.Popen(
        list(argv), cwd=cwd, env=None if env is None else dict(env), stdin=stdin, stdout=stdout,
        stderr=stderr, start_new_session=True, preexec_fn=preexec,
    )
    try:
        yield proc
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
    for stream in (proc.stdin,):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    # Stragglers (an nginx worker whose master died, a stuck child) go too; the group id stays
    # reserved while any member lives, so this cannot hit an unrelated process.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def read_line(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    """One line of the child's stdout within the deadline ('' when it exits or times out)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    line = b""
    fd = proc.stdout.fileno()
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 1)  # byte by byte: nothing after the newline is consumed
        if not chunk:
            break
        line += chunk
    return line.decode(errors="replace").strip()


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_listening(proc: subprocess.Popen[bytes], port: int, timeout_s: float = 15.0) -> None:
    if not wait_until(lambda: proc.poll() is not None or accepts(port), timeout_s, 0.05):
        raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:.0f} s")
    if proc.poll() is not None:
        raise RuntimeError(f"exited with {proc.returncode} before listening on 127.0.0.1:{port}")


# -- /proc ------------------------------------------------------------------------------


def cpu_split(pid: int) -> tuple[int, int]:
    """(utime, stime) of the whole process (all threads), in clock ticks."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces
    return int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)


def cpu_ticks(pid: int) -> int:
    """utime + stime of the whole process, in clock ticks."""
    return sum(cpu_split(pid))


def exited(pid: int) -> bool:
    """Gone or a zombie: it will run no more code."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return text[text.rindex(")") + 2] in "ZX"


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def held_connections(pid: int, port: int) -> int:
    """Accepted TCP connections on ``port`` that the process holds an fd for (listener excluded)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    local = f":{port:04X}"
    count = 0
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()  # sl, local, remote, state, queues, tr, retrnsmt, uid, timeout, inode
        if fields[1].endswith(local) and fields[3] != "0A" and fields[9] in inodes:
            count += 1
    return count


def child_pids(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            children.extend(int(x) for x in (task / "children").read_text().split())
    return children
