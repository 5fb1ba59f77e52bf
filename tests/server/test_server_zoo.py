"""The zoo runs the users' code: the clean server never loads it, every variant is a class at a method boundary,
and a variant's mistake shows on the fast path too (over the fake transport; the live symptoms are in
test_server_bugs.py)."""

from __future__ import annotations

import ast
import errno
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from server import bugs as zoo
from server import connection
from server.config import parse_config
from server.connection import EPOLLIN, EPOLLRDHUP, RECV_SIZE, Connection
from server.loop import Server, create_listener
from tests.server.live_server import FAST, ServerProcess, connect, get, wait_until
from tests.server.test_server_connection import GET, HELLO_RESPONSE, FakeSocket, make
from tests.server.test_server_fast_path import quiet_after_one_request

SERVER_DIR = Path(__file__).resolve().parents[2] / "server"
ZOO_MODULE = "server.bugs"


# -- the clean server loads no zoo ---------------------------------------------------------------------------


def _imported_modules(stderr: str) -> set[str]:
    """Module names from ``-X importtime`` lines: ``import time: self | cumulative | name``."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("bug", [None, "no_timeouts"])
def test_the_clean_server_never_imports_the_zoo(tmp_path: Path, bug: str | None) -> None:
    # PYTHONPROFILEIMPORTTIME (-X importtime) reports every import the process makes, lazy ones included, on stderr.
    args = ["--bug", bug] if bug else []
    with ServerProcess(tmp_path / "s", *FAST, *args, env={"PYTHONPROFILEIMPORTTIME": "1"}) as server:
        assert get(server.address)[0] == 200  # it served a request: every module it needs for one is loaded
        modules = _imported_modules((tmp_path / "s" / "stderr").read_text())
    assert "server.connection" in modules and "server.loop" in modules
    assert (ZOO_MODULE in modules) == (bug is not None), sorted(m for m in modules if m.startswith("server"))


def _imports_of_the_zoo(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Each import of the zoo, and whether it is at module level (run on import) rather than in a function."""
    top = set(map(id, tree.body))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            if ZOO_MODULE in (node.module, *(f"{node.module}.{alias.name}" for alias in node.names)):
                yield node, id(node) in top
        elif isinstance(node, ast.Import) and ZOO_MODULE in (alias.name for alias in node.names):
            yield node, id(node) in top


def test_no_clean_module_imports_the_zoo_and_the_entry_points_only_lazily() -> None:
    lazy = {"__main__.py", "config.py"}  # build the variant's server; check a --bug name: only when one is given
    for path in sorted(SERVER_DIR.rglob("*.py")):
        if path.name == "bugs.py":
            continue
        for node, at_module_level in _imports_of_the_zoo(ast.parse(path.read_text())):
            where = f"{path.relative_to(SERVER_DIR)}:{node.lineno}"
            assert path.name in lazy and path.parent == SERVER_DIR, f"{where} imports the zoo"
            assert not at_module_level, f"{where} imports the zoo at module level"


def test_no_bug_switch_is_left_in_the_clean_core() -> None:
    for path in sorted(SERVER_DIR.rglob("*.py")):
        if path.name not in ("bugs.py", "__main__.py"):  # the zoo, and the entry point that picks a variant
            text = path.read_text()
            assert "BUG ZOO" not in text and not re.search(r"(?<![\w/])bugs\.(?!py\b)", text), path


# -- connection variants over the fake transport --------------------------------------------------------------


def test_no_eof_check_takes_end_of_input_for_nothing_yet() -> None:
    for cls, closed_as in ((Connection, "eof"), (zoo.connection_class("no_eof_check"), None)):
        sock = FakeSocket([GET, b""])
        conn, _ = make(sock, cls=cls)
        conn.handle_event(EPOLLIN | EPOLLRDHUP, 1.0)  # level mode: one read per wakeup, the request
        conn.handle_event(EPOLLIN | EPOLLRDHUP, 1.1)  # then the end of input
        assert bytes(sock.sent) == HELLO_RESPONSE
        assert conn.close_reason == closed_as
    assert conn.mask & EPOLLIN  # still asks to read the end of input it ignores: level mode spins on it


def test_edge_single_recv_reads_once_per_edge_on_the_slow_and_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "READ_TIME_BUDGET_S", 60.0)  # reads end by count here, not by a slow machine
    body = 2 * RECV_SIZE + 100
    flood = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % body + b"a" * body  # 3 reads
    for bug, reads in ((None, 3), ("edge_single_recv", 1)):
        sock, conn, _ = quiet_after_one_request(edge=True, bug=bug)
        sock.incoming.append(flood)
        conn.handle_event(EPOLLIN, 2.0)  # the fast path's read is full: the slow path takes it on
        assert sock.recv_calls == reads and conn.can_recv is False, bug


def test_unguarded_io_lets_a_reset_on_the_fast_path_escape() -> None:
    reset = ConnectionResetError(errno.ECONNRESET, "reset")
    sock, conn, _ = quiet_after_one_request()
    sock.incoming.append(reset)
    conn.handle_event(EPOLLIN, 2.0)
    assert conn.close_reason == "reset"
    sock, conn, _ = quiet_after_one_request(bug="unguarded_io")
    sock.incoming.append(reset)
    with pytest.raises(ConnectionResetError):
        conn.handle_event(EPOLLIN, 2.0)


@pytest.mark.parametrize(("bug", "deadline"), [
    (None, 2.0 + 5.0), ("no_timeouts", None), ("no_idle_timeout", None), ("idle_from_accept", 0.0 + 5.0),
])
def test_a_variants_idle_deadline_holds_after_a_fast_path_request(bug: str | None, deadline: float | None) -> None:
    sock, conn, _ = quiet_after_one_request(bug=bug)
    sock.incoming.append(GET)
    conn.handle_event(EPOLLIN, 2.0)
    assert bytes(sock.sent) == HELLO_RESPONSE and (sock.recv_calls, sock.send_calls) == (1, 1)
    assert conn.deadline == deadline


def test_quick_stale_deadline_leaves_the_deadline_where_the_slow_path_put_it() -> None:
    sock, conn, _ = quiet_after_one_request(bug="quick_stale_deadline")
    assert conn.deadline == 1.0 + 5.0  # set on the slow path, by the first request
    for now in (2.0, 4.0):
        sock.incoming.append(GET)
        assert conn.handle_event(EPOLLIN, now) is True  # the fast path, with nothing for the loop to do
    assert bytes(sock.sent) == HELLO_RESPONSE * 2 and conn.deadline == 6.0  # the clean fast path: 4 + 5
    conn.on_timeout(6.0)
    assert conn.close_reason == "timeout"  # a connection answering every 2 s, cut off as idle

    sock, conn, _ = quiet_after_one_request(bug="quick_stale_deadline")
    sock.incoming.append(GET[:10])  # a request in two reads: the slow path moves the deadline as it should
    conn.handle_event(EPOLLIN, 2.0)
    sock.incoming.append(GET[10:])
    conn.handle_event(EPOLLIN, 3.0)
    assert bytes(sock.sent) == HELLO_RESPONSE and conn.deadline == 3.0 + 5.0


# -- loop variants on a real listener -------------------------------------------------------------------------

MakeServer = Callable[..., Server]


@pytest.fixture
def make_server() -> Iterator[MakeServer]:
    made: list[Server] = []

    def build(bug: str | None, trigger: str = "level") -> Server:
        config = parse_config(["--host", "127.0.0.1", "--port", "0", "--trigger", trigger], {})
        server = (Server if bug is None else zoo.server_class(bug))(config, create_listener(config.host, 0, 16))
        made.append(server)
        return server

    yield build
    for server in made:
        server._close_all()


def _port(server: Server) -> int:
    assert server.listener is not None
    return int(server.listener.getsockname()[1])


def _wait_for_backlog(server: Server) -> None:
    wait_until(lambda: server.ep.poll(0), "the listener readable")


def test_accept_once_takes_one_connection_per_edge(make_server: MakeServer) -> None:
    for bug, accepted, told_again in ((None, 3, False), ("accept_once", 1, False)):
        server = make_server(bug, "edge")
        clients = [connect(("127.0.0.1", _port(server))) for _ in range(3)]
        try:
            _wait_for_backlog(server)  # the three are in the backlog
            server._accept(1.0)
            assert (server.stats.accepted, server._listener_ready) == (accepted, told_again), bug
        finally:
            for client in clients:
                client.close()
    server = make_server(None, "edge")
    server.accept_budget = 1  # the clean server with its budget spent comes back by itself in edge mode
    clients = [connect(("127.0.0.1", _port(server))) for _ in range(2)]
    _wait_for_backlog(server)
    server._accept(1.0)
    assert server._listener_ready
    for client in clients:
        client.close()


def test_leak_on_disconnect_forgets_the_socket_without_closing_it(make_server: MakeServer) -> None:
    for bug in (None, "leak_on_disconnect"):
        server = make_server(bug)
        client = connect(("127.0.0.1", _port(server)))
        _wait_for_backlog(server)
        server._accept(1.0)
        (conn,) = server.conns.values()
        conn.close_reason = "eof"
        server._close(conn)
        assert not server.conns and server.stats.closed["eof"] == 1
        leaked = bug is not None
        assert (conn.sock.fileno() != -1) == leaked, bug  # a closed socket's fileno is -1
        if leaked:
            assert server.__dict__["leaked"] == [conn.sock]
            conn.sock.close()
        client.close()


class _ExhaustedListener:
    """A listener whose every accept fails with EMFILE, as with no fd left."""

    def accept(self) -> tuple[socket.socket, object]:
        raise OSError(errno.EMFILE, "Too many open files")

    def close(self) -> None: ...


def test_emfile_ignored_neither_sheds_nor_pauses(make_server: MakeServer) -> None:
    for bug, paused in ((None, True), ("emfile_ignored", False)):
        server = make_server(bug)
        real = server.listener
        server.listener = _ExhaustedListener()  # type: ignore[assignment]
        server._accept(1.0)
        assert (server._accept_paused_until is not None) == paused, bug  # else the readable listener spins
        server.listener = real
