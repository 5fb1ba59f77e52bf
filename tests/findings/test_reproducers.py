"""Each finding's standalone reproducer says "affected" to a stand-in with the defect and "not affected" to one
without it (a reproducer that always says yes is worthless). Local stdlib servers, a few seconds each."""

from __future__ import annotations

import contextlib
import importlib.util
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

from lab.findings import DOCS_DIR, FINDINGS, FINDINGS_DIR
from lab.settings import REPO_ROOT

Handler = Callable[[socket.socket], None]


def reproducer(slug: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(slug.replace("-", "_"), FINDINGS_DIR / f"{slug}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def stand_in(handle: Handler) -> Iterator[str]:
    """A server on 127.0.0.1 that runs `handle` on each connection in a thread of its own."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=handle, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


def read_head(connection: socket.socket, limit_s: float = 5.0) -> bytes:
    connection.settimeout(limit_s)
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(4096)
            if not chunk:
                break
            data += chunk
    return data


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def test_every_finding_has_its_reproducer_and_its_document() -> None:
    for finding in FINDINGS:
        assert (REPO_ROOT / finding.reproducer).is_file(), finding.reproducer
        assert (REPO_ROOT / finding.document).is_file(), finding.document
        assert (REPO_ROOT / finding.document).parent == DOCS_DIR


# -- http10-te-smuggling ----------------------------------------------------------------------------------------

def test_smuggling_is_seen_when_the_body_is_answered_as_a_request() -> None:
    def frames_by_content_length(connection: socket.socket) -> None:  # answers what the body hides too
        with connection:
            read_head(connection)
            connection.sendall(OK + OK + BAD)

    with stand_in(frames_by_content_length) as address:
        assert reproducer("http10-te-smuggling").main([address]) == 1


def test_a_server_that_refuses_and_closes_is_not_affected() -> None:
    def refuses(connection: socket.socket) -> None:
        with connection:
            read_head(connection)
            connection.sendall(BAD)

    with stand_in(refuses) as address:
        assert reproducer("http10-te-smuggling").main([address]) == 0


# -- idle-connection-held ---------------------------------------------------------------------------------------

def idle_server(*, close_silent: bool) -> Handler:
    def handle(connection: socket.socket) -> None:
        with connection:
            head = read_head(connection, limit_s=0.5)
            if head:
                connection.sendall(OK)
                time.sleep(0.3)  # the stand-in's keep-alive deadline
            elif not close_silent:
                time.sleep(3)  # holds a silent connection past the reproducer's wait
    return handle


def test_a_silent_connection_held_past_the_keep_alive_deadline_is_affected() -> None:
    with stand_in(idle_server(close_silent=False)) as address:
        assert reproducer("idle-connection-held").main([address, "--wait", "1.5"]) == 1


def test_a_silent_connection_closed_by_a_deadline_is_not_affected() -> None:
    with stand_in(idle_server(close_silent=True)) as address:
        assert reproducer("idle-connection-held").main([address, "--wait", "1.5"]) == 0


# -- 500-before-request -----------------------------------------------------------------------------------------

def cuts_off(answer: bytes) -> Handler:
    def handle(connection: socket.socket) -> None:
        with connection:
            connection.settimeout(0.3)
            with contextlib.suppress(OSError):
                connection.recv(4096)
            connection.sendall(answer)
    return handle


@pytest.mark.parametrize(("answer", "code"), [
    (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", 1),
    (b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n", 0),
    (b"", 0),
])
def test_a_5xx_to_an_unfinished_head_is_affected(answer: bytes, code: int) -> None:
    with stand_in(cuts_off(answer)) as address:
        assert reproducer("500-before-request").main([address, "--wait", "3"]) == code


# -- emfile-accept-spin -------------------------------------------------------------------------------------------

ACCEPT_LOOP = """
import errno, os, select, socket, sys
spare = open(os.devnull) if sys.argv[1] == "spare" else None
listener = socket.create_server(("127.0.0.1", 0), backlog=512)
listener.setblocking(False)
print(listener.getsockname()[1], flush=True)
poll = select.epoll()
poll.register(listener.fileno(), select.EPOLLIN)
held = []
for _ in range(200_000):  # bounded: a spinning stand-in stops by itself
    for _ in poll.poll(0.5):
        try:
            held.append(listener.accept()[0])
        except OSError as error:
            if error.errno != errno.EMFILE:
                raise
            if spare is not None:  # the spare-fd trick: accept and close the extra connection
                spare.close()
                listener.accept()[0].close()
                spare = open(os.devnull)
            else:
                sys.stderr.write("accept: EMFILE\\n")  # logged and left in the queue: readable again at once
"""


@pytest.mark.parametrize(("mode", "code"), [("swallow", 1), ("spare", 0)])
def test_an_accept_loop_that_swallows_emfile_is_affected(mode: str, code: int) -> None:
    def few_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))

    server = subprocess.Popen([sys.executable, "-c", ACCEPT_LOOP, mode], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, preexec_fn=few_files, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        found = reproducer("emfile-accept-spin").main([f"127.0.0.1:{port}", "--pid", str(server.pid),
                                                       "--connections", "100", "--seconds", "1"])
        assert found == code
    finally:
        server.kill()
        server.wait(timeout=5)

