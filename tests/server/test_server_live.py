"""The real server in a subprocess on 127.0.0.1, in both trigger modes, against misbehaving clients."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.live_server import (
    FAST,
    Reader,
    ServerProcess,
    connect,
    expected_bytes,
    get,
    parse_json,
    reset,
    sockets,
    wait_until,
)

HELLO = b"hello, epoll\n"


@pytest.fixture(params=["level", "edge"])
def trigger(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(tmp_path: Path, trigger: str) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path / "server", "--trigger", trigger, *FAST) as srv:
        yield srv


def launch(tmp_path: Path, trigger: str, *extra: str, nofile: int | None = None) -> ServerProcess:
    """A server with FAST settings, overridden by ``extra`` (argparse keeps the last value)."""
    return ServerProcess(tmp_path / "server", "--trigger", trigger, *FAST, *extra, nofile=nofile)


def test_byte_by_byte_request(server: ServerProcess) -> None:
    raw = b"GET /bytes/300 HTTP/1.1\r\nHost: t\r\nX-Long-Header: some value\r\n\r\n"
    with connect(server.address) as sock:
        for i in range(len(raw)):
            sock.sendall(raw[i : i + 1])
            server.wait_consumed(sock)  # each byte is a separate read on the server
        status, _, body = Reader(sock).response()
    assert (status, body) == (200, expected_bytes(300))


def test_fragmented_request_with_a_body(server: ServerProcess) -> None:
    pieces = [b"PO", b"ST /echo HTTP/1.1\r\nHost: t\r\nContent-Le", b"ngth: 11\r\n", b"\r\nhello", b" ", b"world"]
    with connect(server.address) as sock:
        for piece in pieces:
            sock.sendall(piece)
            server.wait_consumed(sock)
        status, _, body = Reader(sock).response()
    assert (status, body) == (200, b"hello world")


def test_request_split_between_cr_and_lf(server: ServerProcess) -> None:
    with connect(server.address) as sock:
        for piece in (b"GET / HTTP/1.1\r", b"\nHost: t\r", b"\n\r", b"\n"):
            sock.sendall(piece)
            server.wait_consumed(sock)
        assert Reader(sock).response()[::2] == (200, HELLO)


def test_pipelined_requests_in_one_segment_are_answered_in_order(server: ServerProcess) -> None:
    stream = (
        b"GET /bytes/70000 HTTP/1.1\r\nHost: t\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde"
        b"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n"
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    with connect(server.address) as sock:
        sock.sendall(stream)
        reader = Reader(sock)
        got = [reader.response() for _ in range(5)]
        assert reader.until_eof() == b""  # Connection: close is honoured after the last one
    assert [(status, body) for status, _, body in got] == [
        (200, expected_bytes(70000)), (200, b"abcde"), (404, b"404 Not Found\n"), (200, b"xyz"), (200, HELLO),
    ]


def test_tcp_cork_and_no_nodelay_still_answer_pipelined_requests(tmp_path: Path, trigger: str) -> None:
    with launch(tmp_path, trigger, "--tcp-cork", "--tcp-nodelay", "off") as server, connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 20 + b"GET /bytes/100000 HTTP/1.1\r\nHost: t\r\n\r\n")
        reader = Reader(sock)
        assert [reader.response()[::2] for _ in range(20)] == [(200, HELLO)] * 20
        assert reader.response()[2] == expected_bytes(100000)


def test_idle_keep_alive_connections_are_closed_after_the_idle_timeout(tmp_path: Path, trigger: str) -> None:
    with launch(tmp_path, trigger, "--idle-timeout", "0.3") as server, connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        reader = Reader(sock)
        assert reader.response()[0] == 200
        started = time.monotonic()
        assert reader.until_eof() == b""  # closed quietly: no response to an idle connection
        assert 0.25 <= time.monotonic() - started < 2
        assert server.stats()["closed"]["timeout"] == 1


def test_stats_keys_and_listen_backlog(server: ServerProcess) -> None:
    baseline = server.fds()
    stats = server.stats()
    assert set(stats) == {
        "trigger", "bug", "open_connections", "open_fds", "accepted", "closed", "requests", "bytes_in",
        "bytes_out", "parse_errors", "rss_bytes",
    }  # as in docs/architecture.md
    assert set(stats["closed"]) == {"eof", "reset", "hup", "timeout", "error", "protocol"}
    assert stats["open_fds"] == baseline + 1  # and the stats request's own connection
    assert stats["rss_bytes"] > 0
    (listener,) = [row for row in server.tcp() if row[2] == 0x0A]
    assert listener[3] >= 1024  # a listening socket's send queue is its backlog


def test_keep_alive_rules_for_http_10_and_11(server: ServerProcess) -> None:
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        reader = Reader(sock)
        assert reader.response()[0] == 200
        assert reader.until_eof() == b""  # 1.0 closes by default
    with connect(server.address) as sock:
        reader = Reader(sock)
        for _ in range(3):
            sock.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            status, headers, _ = reader.response()
            assert (status, headers["connection"]) == (200, "keep-alive")
        for _ in range(3):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")  # 1.1 keeps the connection open by default
            assert reader.response()[0] == 200


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"\x16\x03\x01\x00\xff\xfe\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"BREW / HTTP/1.1\r\nHost: t\r\n\r\n", 501),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"v" * 40000 + b"\r\n\r\n", 431),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n" + b"x" * 200000, 413),
    ],
    ids=["garbage", "505", "501", "cl+te", "431", "414", "413-with-body"],
)
def test_hostile_input_gets_its_status_then_a_clean_close(server: ServerProcess, raw: bytes, status: int) -> None:
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" + raw)
        reader = Reader(sock)
        assert reader.response()[::2] == (200, HELLO)  # what came before is still answered
        got, headers, _ = reader.response()
        assert (got, headers["connection"]) == (status, "close")
        assert reader.until_eof() == b""  # a FIN, not a reset: the rest of the input was drained
    assert server.alive()


def test_half_close_after_the_request_still_gets_the_full_response(server: ServerProcess) -> None:
    with connect(server.address) as sock:
        sock.sendall(b"GET /bytes/3000000 HTTP/1.1\r\nHost: t\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        reader = Reader(sock)
        status, _, body = reader.response()
        assert reader.until_eof() == b""
    assert status == 200
    assert body == expected_bytes(3000000)


def test_clients_that_leave_early_leave_nothing_behind(server: ServerProcess) -> None:
    baseline = server.fds()
    for _ in range(20):
        connect(server.address).close()
    for _ in range(20):
        with connect(server.address) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Half")
            server.wait_consumed(sock)
    server.settle(baseline)
    assert server.cpu_fraction() < 0.05
    stats = server.stats()
    assert stats["closed"]["eof"] == 40
    assert stats["open_connections"] == 1  # the stats request itself


def test_resets_mid_request_and_mid_response_leave_the_server_alive(server: ServerProcess) -> None:
    baseline = server.fds()
    sock = connect(server.address)
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nsome")
    server.wait_consumed(sock)
    reset(sock)
    sock = connect(server.address)
    sock.sendall(b"GET /bytes/100000000 HTTP/1.1\r\nHost: t\r\n\r\n")
    assert sock.recv(65536)  # the response is flowing
    reset(sock)
    server.settle(baseline)
    assert server.alive()
    assert get(server.address)[::2] == (200, HELLO)
    assert server.stats()["closed"]["reset"] == 2


def test_a_reader_that_stops_reading_is_timed_out_and_its_memory_freed(tmp_path: Path, trigger: str) -> None:
    with launch(tmp_path, trigger, "--write-timeout", "0.5") as server:
        baseline, rss_before = server.fds(), server.rss()
        sock = connect(server.address)
        sock.sendall(b"GET /bytes/1000000000 HTTP/1.1\r\nHost: t\r\n\r\n")
        wait_until(lambda: server.fds() == baseline + 1, "the connection to be accepted")
        started = time.monotonic()
        wait_until(lambda: server.fds() == baseline, "the stalled write to time out", timeout=5)
        assert time.monotonic() - started < 3
        assert server.rss() < rss_before + 8 * 2**20  # the body was never held in memory
        stats = server.stats()
        assert stats["closed"]["timeout"] == 1
        with sock:
            received = len(Reader(sock).until_eof())  # what the kernels had buffered, then the close
        assert 0 < received < 100_000_000


def test_slowloris_gets_408_within_the_header_timeout(tmp_path: Path, trigger: str) -> None:
    with launch(tmp_path, trigger, "--header-timeout", "0.5") as server, connect(server.address) as sock:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
        while not select.select([sock], [], [], 0.05)[0]:  # a header byte every 50 ms
            sock.sendall(b"X")
            assert time.monotonic() - started < 5, "no 408"
        elapsed = time.monotonic() - started
        reader = Reader(sock)
        assert reader.response()[0] == 408
        assert reader.until_eof() == b""
    assert 0.45 <= elapsed < 1.5


def test_large_bodies_arrive_byte_exact(server: ServerProcess) -> None:
    body = os.urandom(1 << 20)
    with connect(server.address) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        reader = Reader(sock)
        assert reader.response()[::2] == (200, body)
        sock.sendall(b"GET /bytes/16777216 HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, got = reader.response()
    assert (status, headers["content-length"]) == (200, "16777216")
    assert got == expected_bytes(16 << 20)


def _at_eof(sock: socket.socket) -> bool:
    if not select.select([sock], [], [], 0)[0]:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except ConnectionResetError:
        return True


def test_running_out_of_fds_sheds_connections_without_spinning_and_recovers(tmp_path: Path, trigger: str) -> None:
    nofile = 40
    slow = ("--header-timeout", "30", "--idle-timeout", "30")
    with launch(tmp_path, trigger, *slow, nofile=nofile) as server, sockets() as clients:
        capacity = nofile - server.fds()  # the spare fd is already counted as open
        clients.extend(connect(server.address) for _ in range(capacity + 10))
        wait_until(lambda: sum(map(_at_eof, clients)) == 10, "10 connections shed at the fd limit")
        assert server.fds() == nofile
        clients.append(connect(server.address))  # one more while at the limit: shed too
        wait_until(lambda: _at_eof(clients[-1]), "the extra connection to be shed")
        assert server.cpu_fraction() < 0.05  # a level-triggered listener would spin here
        for sock in clients[:capacity]:
            sock.close()
        status, _, body = wait_until(lambda: _try_get(server), "the server to serve again")
        assert (status, body) == (200, HELLO)
        assert server.alive()


def _try_get(server: ServerProcess) -> tuple[int, dict[str, str], bytes] | None:
    try:
        return get(server.address)
    except (ConnectionError, TimeoutError):
        return None  # shed: the server may still be closing the freed connections


def _refused(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=1).close()
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        return False  # queued on the listener as it closed
    return False


def test_sigterm_during_a_slow_response_finishes_it_and_exits_0(server: ServerProcess) -> None:
    n = 32 << 20
    with connect(server.address) as sock:
        sock.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: t\r\n\r\n" % n)
        reader = Reader(sock)
        reader.read_at_least(1 << 20)
        server.signal(signal.SIGTERM)
        wait_until(lambda: _refused(server.address), "the listener to close")
        status, _, body = reader.response()
        assert reader.until_eof() == b""
    assert (status, len(body)) == (200, n)
    assert body == expected_bytes(n)
    assert server.wait_exit() == 0


def test_sigterm_waits_until_the_kernel_has_delivered_a_finished_response(server: ServerProcess) -> None:
    # A container's network goes when its process exits, taking unsent kernel buffers with it: a
    # graceful stop must outlive the bytes the kernel still holds, not just the ones it has queued.
    n = 12_000  # handed to the kernel at once; the client's small window keeps most of it there
    with connect(server.address, rcvbuf=2048) as sock:
        sock.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: t\r\n\r\n" % n)
        wait_until(lambda: server.stats()["bytes_out"] >= n, "the whole response handed to the kernel")
        row = server.server_side(sock)
        assert row is not None and row[3] > 0, "precondition: the kernel still holds part of the response"
        server.signal(signal.SIGTERM)
        wait_until(lambda: _refused(server.address), "the listener to close")
        with pytest.raises(subprocess.TimeoutExpired):
            server.wait_exit(timeout=0.3)  # still there, delivering
        reader = Reader(sock)
        status, _, body = reader.response()
        assert reader.until_eof() == b""
    assert (status, body) == (200, expected_bytes(n))
    assert server.wait_exit() == 0


def test_sigint_on_an_idle_server_exits_0(server: ServerProcess) -> None:
    with connect(server.address) as idle:
        assert get(server.address)[0] == 200
        server.signal(signal.SIGINT)
        assert server.wait_exit() == 0
        assert Reader(idle).until_eof() == b""  # idle keep-alive connections are closed, not reset


def test_workers_share_the_port(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "server", *FAST, "--workers", "2") as server:
        children = wait_until(lambda: _children(server.pid) if len(_children(server.pid)) == 2 else None,
                              "two workers")
        wait_until(lambda: sum(1 for row in server.tcp() if row[2] == 0x0A) == 2, "two SO_REUSEPORT listeners")
        for _ in range(10):
            assert get(server.address)[0] == 200
        server.signal(signal.SIGTERM)
        assert server.wait_exit() == 0
        for pid in children:
            assert not os.path.exists(f"/proc/{pid}/stat") or "Z" in Path(f"/proc/{pid}/stat").read_text()


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def test_log_json_records_connection_lifecycle(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    with ServerProcess(tmp_path / "server", *FAST, "--log-json", str(log)) as server:
        assert get(server.address)[0] == 200

        def events() -> list[str] | None:
            lines = log.read_text().splitlines() if log.exists() else []
            names = [parse_json(line.encode())["event"] for line in lines]
            return names if "close" in names else None

        assert wait_until(events, "a close event") == ["accept", "close"]


def test_environment_variables_configure_the_server(tmp_path: Path) -> None:
    env = {"SERVER_TRIGGER": "edge", "SERVER_BUG": "", "SERVER_HEADER_TIMEOUT": "0.3"}
    with ServerProcess(tmp_path / "server", env=env) as server, connect(server.address) as sock:
        stats = server.stats()
        assert (stats["trigger"], stats["bug"]) == ("edge", None)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
        assert Reader(sock).response(timeout=3)[0] == 408
