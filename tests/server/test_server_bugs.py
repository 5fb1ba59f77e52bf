"""The bug zoo is honest: each ``--bug`` variant shows its symptom, and the clean server does not.

Each case is one short scenario with a symptom check that returns a description of what went wrong
(or None). It runs against the variant, where the symptom must appear, and against the clean server
in the same trigger mode, where it must not, so the check itself is shown to tell them apart.
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from server.bugs import BUGS
from tests.server.live_server import (
    FAST,
    Reader,
    ServerProcess,
    connect,
    expected_bytes,
    get,
    reset,
    sockets,
    wait_until,
)

Symptom = Callable[[ServerProcess], str | None]


def no_eof_check(server: ServerProcess) -> str | None:
    baseline = server.fds()
    for _ in range(3):
        connect(server.address).close()
    # Either all three are closed (fds back, none queued in CLOSE_WAIT) or all are held in CLOSE_WAIT.
    wait_until(lambda: (server.fds() - baseline, server.close_wait()) in ((0, 0), (3, 3)), "3 connections handled")
    stuck, busy = server.close_wait(), server.runnable_fraction()
    return f"{stuck} sockets in CLOSE_WAIT, runnable {busy:.0%} of the time" if stuck or busy > 0.3 else None


def leak_on_disconnect(server: ServerProcess) -> str | None:
    baseline = server.fds()
    for _ in range(5):
        connect(server.address).close()
    wait_until(lambda: server.stats()["closed"]["eof"] >= 5, "5 closes recorded")
    grown = server.fds() - baseline  # the last stats connection may still be open
    return f"fd count {baseline} → {baseline + grown} after 5 × connect_and_close" if grown >= 5 else None


def _reset_recorded(server: ServerProcess) -> bool:
    try:
        return bool(server.stats()["closed"]["reset"] >= 1)
    except ConnectionError:
        return not server.alive()  # refused, or reset while dying


def _crashed_by(client: Callable[[ServerProcess], None]) -> Symptom:
    def symptom(server: ServerProcess) -> str | None:
        client(server)
        wait_until(lambda: not server.alive() or _reset_recorded(server), "the reset handled")
        return None if server.alive() else f"server exited with {server.wait_exit()}"

    symptom.__name__ = client.__name__
    return symptom


@_crashed_by
def reset_mid_request(server: ServerProcess) -> None:
    sock = connect(server.address)
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\npartial")
    server.wait_consumed(sock)
    reset(sock)


@_crashed_by
def reset_mid_response(server: ServerProcess) -> None:
    sock = connect(server.address)
    sock.sendall(b"GET /bytes/100000000 HTTP/1.1\r\nHost: t\r\n\r\n")
    wait_until(lambda: (row := server.server_side(sock)) is not None and row[3] > 0, "output queued")
    reset(sock)


def ignore_send_count(server: ServerProcess) -> str | None:
    n = 16 << 20
    # A small receive window makes the server's segments small, so its sends come back partial
    # (on loopback a 64 KiB send is otherwise one segment, taken whole or not at all).
    with connect(server.address, rcvbuf=8192) as sock:
        sock.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % n)
        # A slow reader: read nothing until the server's send queue has filled.
        wait_until(lambda: (row := server.server_side(sock)) is not None and row[3] > 1 << 18, "a full send queue")
        data = Reader(sock).until_eof()
    body = data[data.index(b"\r\n\r\n") + 4 :]
    if body != expected_bytes(n):
        return f"{len(body)} of {n} body bytes arrived" + ("" if len(body) == n else " (truncated)")
    return None


def unbounded_headers(server: ServerProcess) -> str | None:
    rss_before = server.rss()
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n" + (b"X-Pad: " + b"a" * 1000 + b"\r\n") * 6000)
        server.wait_consumed(sock)
        answered = bool(select.select([sock], [], [], 0)[0])
    grown = server.rss() - rss_before
    if not answered and grown > 4 << 20:  # the clean server answers 431 after 32 KiB
        return f"no 431 after 6 MB of headers; RSS grew {grown >> 20} MiB"
    return None


def no_timeouts(server: ServerProcess) -> str | None:
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: slow")
        # The header timeout is 0.2 s: four times that with no answer is no timeout at all.
        if not select.select([sock], [], [], 0.8)[0]:
            return "no 408 within 0.8 s of a stalled head (header timeout 0.2 s)"
        assert Reader(sock).response()[0] == 408
    return None


def edge_single_recv(server: ServerProcess) -> str | None:
    body = bytes(range(256)) * 4096  # 1 MiB in one burst: more than one recv per edge
    with connect(server.address) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        try:
            status, _, got = Reader(sock).response(timeout=1.5)
        except TimeoutError:
            return "a 1 MiB request left unread in the kernel: no response within 1.5 s"
    assert (status, got) == (200, body)
    return None


def emfile_ignored(server: ServerProcess) -> str | None:
    nofile = 24
    with sockets() as clients:
        capacity = nofile - server.fds()
        clients.extend(connect(server.address) for _ in range(capacity + 3))
        wait_until(lambda: server.fds() == nofile, "the fd limit reached")
        busy = server.runnable_fraction()
    return f"runnable {busy:.0%} of the time at the fd limit with connections pending" if busy > 0.3 else None


# -- the second zoo (issue 10) ---------------------------------------------------------------------


def _paused(server: ServerProcess) -> contextlib.AbstractContextManager[None]:
    """The server stopped (SIGSTOP) meanwhile, so what the client does arrives as one batch of events."""

    @contextlib.contextmanager
    def paused() -> Iterator[None]:
        server.signal(signal.SIGSTOP)
        try:
            yield
        finally:
            server.signal(signal.SIGCONT)

    return paused()


def pipeline_drop(server: ServerProcess) -> str | None:
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 5)
        reader = Reader(sock)
        answered = 0
        try:
            for _ in range(5):
                reader.response(timeout=1.0)
                answered += 1
        except TimeoutError:
            pass
    return None if answered == 5 else f"{answered} of 5 pipelined requests answered"


def epollout_idle(server: ServerProcess) -> str | None:
    with sockets() as held:
        for _ in range(3):
            sock = connect(server.address)
            held.append(sock)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            Reader(sock).response()
        busy = server.runnable_fraction()
    return f"runnable {busy:.0%} of the time with 3 idle keep-alive connections" if busy > 0.3 else None


def accept_once(server: ServerProcess) -> str | None:
    with sockets() as clients:
        with _paused(server):  # all 20 wait in the backlog behind one edge
            clients.extend(connect(server.address) for _ in range(20))
        for sock in clients:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        answered = 0
        for sock in clients:
            try:
                Reader(sock).response(timeout=0.3)
                answered += 1
            except TimeoutError:
                pass
    return None if answered == 20 else f"{answered} of 20 connections from one burst answered"


def hup_closes_now(server: ServerProcess) -> str | None:
    n = 100_000
    with connect(server.address) as sock:
        with _paused(server):  # the request and the FIN reach the server as one wakeup
            sock.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: t\r\n\r\n" % n)
            sock.shutdown(socket.SHUT_WR)
        try:
            data = Reader(sock).until_eof()
        except ConnectionResetError:
            return "reset instead of the response to a request followed by SHUT_WR"
    body = data.partition(b"\r\n\r\n")[2]
    return None if body == expected_bytes(n) else f"{len(data)} bytes after request + SHUT_WR (body of {n} owed)"


def idle_from_accept(server: ServerProcess) -> str | None:
    # Idle timeout 1 s: three requests 0.6 s apart are never idle for 1 s, but span 1.2 s from accept.
    with connect(server.address) as sock:
        reader = Reader(sock)
        for number in range(1, 4):
            if number > 1:
                select.select([sock], [], [], 0.6)  # the pause is the scenario (and sees an early close)
            try:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                reader.response(timeout=1.0)
            except (OSError, TimeoutError) as err:
                return f"request {number} at {0.6 * (number - 1):.1f} s after accept failed: {err!r}"
    return None


def no_idle_timeout(server: ServerProcess) -> str | None:
    # Idle timeout 0.5 s: after one answered request the server must close the connection by itself.
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        reader = Reader(sock)
        reader.response(timeout=1.0)
        readable, _, _ = select.select([sock], [], [], 2.0)  # waits for the server's FIN, bounded
        if not readable:
            return "a kept-alive connection still open 2 s after its response (idle timeout 0.5 s)"
    return None


def no_backpressure(server: ServerProcess) -> str | None:
    before = server.rss()
    with connect(server.address) as sock:
        sock.sendall(b"GET /bytes/65536 HTTP/1.1\r\nHost: t\r\n\r\n" * 1000)  # and never read
        deadline = time.monotonic() + 1.5  # the clean server holds ~256 KiB at most: watch a while
        grown = 0
        while time.monotonic() < deadline and grown < 32 << 20:
            grown = server.rss() - before
            time.sleep(0.05)
    return f"RSS grew {grown >> 20} MiB for a client that does not read" if grown >= 32 << 20 else None


def no_linger(server: ServerProcess) -> str | None:
    with connect(server.address) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 67108864\r\n\r\n")
        try:
            sock.sendall(b"x" * (4 << 20))  # the body keeps coming after the 413 is sent
            status = Reader(sock).response()[0]
        except OSError as err:
            return f"no 413: {err!r} while the rest of the body was being sent"
    assert status == 413
    return None


def chunk_list(server: ServerProcess) -> str | None:
    size = 1_000_000  # 500,000 chunks: ~25 MB as a list of objects
    chunks = b"".join(b"2\r\nab\r\n" for _ in range(size // 2))
    before = server.rss()
    with connect(server.address, timeout=60) as sock:  # 3.5 MB of chunk framing: slow on a busy machine
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
        assert Reader(sock).response(timeout=60)[0] == 200
    with open(f"/proc/{server.pid}/status") as f:
        peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    grown = peak - before
    return f"peak RSS +{grown >> 20} MiB for a {size >> 20} MB body" if grown > 3 * size + (6 << 20) else None


def no_host_check(server: ServerProcess) -> str | None:
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        status = Reader(sock).response()[0]
    return None if status == 400 else f"an HTTP/1.1 request without Host got {status}"


def head_error_body(server: ServerProcess) -> str | None:
    with connect(server.address) as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: t\r\nBad Field\r\n\r\n")
        data = Reader(sock).until_eof()
    body = data.partition(b"\r\n\r\n")[2]
    return f"the 400 to a HEAD request carried a {len(body)}-byte body" if body else None


# -- the third zoo (issue 21): loop-level mistakes ---------------------------------------------------------


def floored_timeout(server: ServerProcess) -> str | None:
    # Header timeout 0.9 s: from the first byte on, the one deadline is under a second away, so a loop that floors
    # its epoll timeout to whole seconds polls with 0 until it; a correct one sleeps until it.
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost")
        server.wait_consumed(sock)
        busy = server.runnable_fraction(0.4)  # inside the 0.9 s
    return f"runnable {busy:.0%} of the time with one deadline 0.9 s away" if busy > 0.3 else None


def poll_1ms(server: ServerProcess) -> str | None:
    # No connection, so no deadline: a correct loop blocks in epoll_wait and is never woken. A 1 ms poll wakes
    # ~1000 times a second; 250/s (100 in the 0.4 s window) is a quarter of that, and far above 0.
    woken = server.wakeups(0.4)
    return f"woken {woken} times in 0.4 s with nothing to do" if woken >= 100 else None


def periodic_stall(server: ServerProcess) -> str | None:
    # A stall of 0.5 s comes every 2 s: requests back to back for 2.6 s meet one. A correct server answers
    # GET / on loopback in about a millisecond; 0.3 s is a scheduler hiccup far beyond the machine's usual.
    with connect(server.address) as sock:
        reader = Reader(sock)
        end = time.monotonic() + 2.6
        worst = 0.0
        while time.monotonic() < end and worst < 0.3:
            started = time.monotonic()
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            reader.response(timeout=2.0)
            worst = max(worst, time.monotonic() - started)
    return f"a GET / took {worst:.2f} s on loopback" if worst >= 0.3 else None


def fin_waits_for_idle_timer(server: ServerProcess) -> str | None:
    # Idle timeout 3 s: after an answered request the client closes. A correct server closes its side on that
    # FIN within a wakeup; a second (the lab's prompt settle bound) is far more than that, and far less than 3 s.
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        Reader(sock).response()
    deadline = time.monotonic() + 1.0
    while server.close_wait() and time.monotonic() < deadline:
        time.sleep(0.01)
    stuck = server.close_wait()
    return f"{stuck} socket in CLOSE_WAIT 1 s after the client's FIN (idle timeout 3 s)" if stuck else None


# -- the third zoo (issue 21) ----------------------------------------------------------------------


def stale_timer(server: ServerProcess) -> str | None:
    # Idle timeout 1 s. The first connection's deadline (1 s after its response) outlives it; the second takes
    # its fd and is busy every 0.3 s for 1.5 s: never idle for 1 s, so nothing may close it.
    baseline = server.fds()
    with connect(server.address) as first:
        first.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        Reader(first).response()
    wait_until(lambda: server.fds() == baseline, "the first connection closed")  # its fd is free for the next
    with connect(server.address) as busy:
        reader = Reader(busy)
        for number in range(1, 6):
            try:
                busy.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                reader.response(timeout=1.0)
            except (OSError, TimeoutError) as err:
                return f"request {number} on the connection that reused the fd failed: {err!r}"
            select.select([busy], [], [], 0.3)  # the pause is the scenario (and sees an early close)
    return None


def leak_per_connection(server: ServerProcess) -> str | None:
    # Four rounds of 1,000 connections one after another (deadlines 0.5 s, so a closed connection's timer entry
    # is gone within the next round). The first two rounds warm the allocator and the memos; over the last two a
    # server that keeps nothing per closed connection stays where it was (40-200 KiB here), one that keeps 1 KiB
    # each grows ~2 MiB.
    def round_of_connections() -> int:
        for _ in range(1000):
            with connect(server.address) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                Reader(sock).until_eof()
        return server.rss()

    rss = [round_of_connections() for _ in range(4)]
    grown = rss[3] - rss[1]
    return f"RSS grew {grown >> 10} KiB over the last 2,000 connections, all gone" if grown > 1 << 20 else None


def _processes(server: ServerProcess) -> set[int]:
    """The server's pid and its children's."""
    with open(f"/proc/{server.pid}/task/{server.pid}/children") as f:
        return {server.pid, *map(int, f.read().split())}


def worker_respawn(server: ServerProcess) -> str | None:
    before = _processes(server)
    sock = connect(server.address)
    sock.sendall(b"GET /bytes/100000000 HTTP/1.1\r\nHost: t\r\n\r\n")
    Reader(sock).read_at_least(1)
    reset(sock)
    wait_until(lambda: _processes(server) != before or _reset_recorded(server), "the reset handled")
    after = _processes(server)
    assert server.alive() and get(server.address)[0] == 200  # the container would stay up, and answer
    return None if after == before else f"processes {sorted(before)} → {sorted(after)} after one client's reset"


def transient_peak(server: ServerProcess) -> str | None:
    # A 32 MiB header sent as fast as possible: the clean server answers 431 after 32 KiB and drains the rest
    # (a receive buffer at a time); one that buffers the whole head before parsing peaks at 32 MiB or more.
    size = 32 << 20
    rss_before = server.rss()
    with connect(server.address, timeout=60) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Huge: " + b"a" * size + b"\r\n\r\n")
        assert Reader(sock).response(timeout=30)[0] == 431
    with open(f"/proc/{server.pid}/status") as f:
        peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    grown = peak - rss_before
    return f"peak RSS +{grown >> 20} MiB for a {size >> 20} MiB header" if grown > 16 << 20 else None


# bug, trigger, extra server arguments, symptom check
CASES: list[tuple[str, str, tuple[str, ...], Symptom]] = [
    ("no_eof_check", "level", ("--header-timeout", "5"), no_eof_check),
    ("leak_on_disconnect", "level", (), leak_on_disconnect),
    ("unguarded_io", "level", (), reset_mid_request),
    ("unguarded_io", "edge", (), reset_mid_response),
    ("ignore_send_count", "level", ("--write-timeout", "5"), ignore_send_count),
    ("unbounded_headers", "level", ("--header-timeout", "10"), unbounded_headers),
    ("no_timeouts", "level", ("--header-timeout", "0.2"), no_timeouts),
    ("edge_single_recv", "edge", (), edge_single_recv),
    ("emfile_ignored", "level", ("--header-timeout", "30", "--idle-timeout", "30"), emfile_ignored),
    ("pipeline_drop", "level", (), pipeline_drop),
    ("pipeline_drop", "edge", (), pipeline_drop),
    ("epollout_idle", "level", ("--idle-timeout", "30"), epollout_idle),
    ("accept_once", "edge", (), accept_once),
    ("hup_closes_now", "level", (), hup_closes_now),
    ("hup_closes_now", "edge", (), hup_closes_now),
    ("idle_from_accept", "level", ("--idle-timeout", "1"), idle_from_accept),
    # Its second and third requests are answered on the fast path, which leaves the deadline at 1 s.
    ("quick_stale_deadline", "level", ("--idle-timeout", "1"), idle_from_accept),
    ("quick_stale_deadline", "edge", ("--idle-timeout", "1"), idle_from_accept),
    ("no_idle_timeout", "level", ("--idle-timeout", "0.5"), no_idle_timeout),
    ("no_idle_timeout", "edge", ("--idle-timeout", "0.5"), no_idle_timeout),
    ("no_backpressure", "level", ("--write-timeout", "5"), no_backpressure),
    ("no_linger", "level", (), no_linger),
    ("chunk_list", "edge", (), chunk_list),
    ("no_host_check", "level", (), no_host_check),
    ("head_error_body", "edge", (), head_error_body),
    ("floored_timeout", "level", ("--header-timeout", "0.9"), floored_timeout),
    ("poll_1ms", "level", (), poll_1ms),
    ("periodic_stall", "level", (), periodic_stall),
    ("fin_waits_for_idle_timer", "level", ("--idle-timeout", "3"), fin_waits_for_idle_timer),
    ("fin_waits_for_idle_timer", "edge", ("--idle-timeout", "3"), fin_waits_for_idle_timer),


    ("stale_timer", "level", ("--idle-timeout", "1"), stale_timer),
    ("stale_timer", "edge", ("--idle-timeout", "1"), stale_timer),
    ("leak_per_connection", "level", ("--idle-timeout", "0.5", "--header-timeout", "0.5"), leak_per_connection),
    ("worker_respawn", "level", (), worker_respawn),
    ("worker_respawn", "edge", (), worker_respawn),
    ("transient_peak", "level", ("--header-timeout", "30"), transient_peak),
]


def test_every_bug_has_a_case() -> None:
    assert {bug for bug, *_ in CASES} == set(BUGS)


@pytest.mark.parametrize("variant", ["bug", "clean"])
@pytest.mark.parametrize(
    ("bug", "trigger", "extra", "symptom"), CASES, ids=[f"{c[0]}-{c[3].__name__}" for c in CASES]
)
def test_symptom_shows_in_the_variant_only(
    tmp_path: Path, variant: str, bug: str, trigger: str, extra: tuple[str, ...], symptom: Symptom
) -> None:
    args = ["--trigger", trigger, *FAST, *extra] + (["--bug", bug] if variant == "bug" else [])
    nofile = 24 if symptom is emfile_ignored else None
    with ServerProcess(tmp_path / "server", *args, nofile=nofile) as server:
        found = symptom(server)
        if variant == "bug":
            assert found, f"--bug {bug}: no symptom"
        else:
            assert found is None, f"clean server: {found}"
            assert server.alive()


def test_unknown_bug_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="exited with 2"), ServerProcess(tmp_path / "s", "--bug", "nope"):
        pass


def test_empty_bug_environment_means_the_clean_server(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "s", env={"SERVER_BUG": ""}) as server:
        assert server.stats()["bug"] is None
    with ServerProcess(tmp_path / "s", env={"SERVER_BUG": "no_timeouts"}) as server:
        assert server.stats()["bug"] == "no_timeouts"



def test_every_variant_is_a_class_from_the_one_table() -> None:
    from server.bugs import TABLE, connection_class, server_class, variant
    from server.connection import Connection
    from server.loop import Server

    assert list(BUGS) == [entry.name for entry in TABLE]
    assert all(entry.source for entry in TABLE)  # every variant says where the mistake comes from
    for entry in TABLE:
        assert entry.connection is not None or entry.server is not None, entry.name  # no flag left anywhere
        conn_class, loop_class = connection_class(entry.name), server_class(entry.name)
        assert issubclass(conn_class, Connection) and "__dict__" not in dir(conn_class)  # slots, as the clean one
        assert issubclass(loop_class, Server) and loop_class is not Server
        assert loop_class.connection_class is conn_class
        assert (conn_class is Connection) == (entry.connection is None)
    with pytest.raises(ValueError, match="unknown bug"):
        variant("no_such_bug")


def test_head_first_parser_holds_the_head_whole_then_parses_like_the_clean_one() -> None:
    from server.bugs import HeadFirstParser
    from server.http.parser import Limits, ProtocolError, Request

    parser = HeadFirstParser(Limits(max_header_bytes=64))
    parser.receive_data(b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"a" * 1000 + b"\r")
    assert parser.next_event() is None and parser.in_progress and not parser.at_rest  # held, no 431 yet
    parser.receive_data(b"\n\r\n")  # the terminator across two reads
    with pytest.raises(ProtocolError) as raised:
        parser.next_event()
    assert raised.value.status == 431 and parser.buffered == 0  # rejected, and the head dropped
    parser = HeadFirstParser()
    parser.receive_data(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert isinstance(parser.next_event(), Request)


def test_the_respawning_supervisor_stops_with_its_worker_on_sigterm(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "s", *FAST, "--bug", "worker_respawn") as server:
        workers = wait_until(lambda: _processes(server) - {server.pid}, "the worker forked")
        assert get(server.address)[0] == 200
        server.signal(signal.SIGTERM)
        assert server.wait_exit() == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
