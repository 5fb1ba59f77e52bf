"""Each behaviour against the recording server: what the server saw is what the behaviour promises."""

from __future__ import annotations

import hashlib
import itertools
import random
import re
import socket
import threading
import time
from typing import Any

import pytest

from clients import executor
from clients.behaviours.malformed import BAD_VERSION_BY_NAME, BUILDERS, INVALID_HOSTS, TE_NOT_FINAL
from clients.history import RunHistory
from clients.http import UNPARSEABLE, byte_pattern
from tests.clients.chaos_server import (
    HELLO,
    RecordingServer,
    assert_read_as_sent,
    blast,
    http,
    parse_request,
    record_only,
    recorded_pauses,
    respond_after_eof,
    run_against,
)


def sends(history: RunHistory, index: int = 0) -> list[bytes]:
    return [op.data or b"" for op in history.connections[index].ops if op.kind == "send"]


def kinds(history: RunHistory, index: int = 0) -> list[str]:
    return [op.kind for op in history.connections[index].ops]


def deadline_at(history: RunHistory, index: int = 0) -> float:
    """When the connection hit max_duration_s, in seconds since the run began."""
    (deadline,) = [op for op in history.connections[index].ops if op.kind == "deadline"]
    return deadline.t


def only(result: dict[str, Any], index: int = 0) -> dict[str, Any]:
    connection: dict[str, Any] = result["connections"][index]
    return connection


def test_well_behaved_sends_a_keep_alive_sequence_and_checks_every_body() -> None:
    with RecordingServer(http()) as server:
        history, result = run_against(server, "well_behaved", connections=2, requests=3)
        seen = server.wait_closed(2)
    for connection in seen:
        assert connection.received().count(b"GET / HTTP/1.1\r\n") == 3
        assert connection.end == "eof"
    for index in range(2):
        conn = only(result, index)
        assert [r["status"] for r in conn["responses"]] == [200, 200, 200]
        assert all(r["expected_ok"] for r in conn["responses"])
        assert conn["closed_by"] == "client"
        assert conn["bytes_received"] == 3 * len(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n" + HELLO)
        assert kinds(history, index).count("send") == 3


def test_well_behaved_echo_bodies_are_verified_against_what_was_sent() -> None:
    with RecordingServer(http()) as server:
        _, result = run_against(server, "well_behaved", requests=2, path="/echo", body_bytes=300)
    assert [r["body_len"] for r in only(result)["responses"]] == [300, 300]
    assert result["summary"]["expected_ok"] == 2


def test_pipelined_requests_leave_in_one_write_and_all_responses_are_read() -> None:
    with RecordingServer(http()) as server:
        history, result = run_against(server, "pipelined", requests=4)
        (seen,) = server.wait_closed(1)
    (write,) = sends(history)
    assert write.count(b"GET / HTTP/1.1\r\n") == 4
    assert seen.chunks[0] == write  # one write, read by the server in one recv
    assert [r["expected_ok"] for r in only(result)["responses"]] == [True] * 4


@pytest.mark.parametrize(
    ("mode", "pause_ms"), [("random", 60), ("crlf", 50), ("body", 60), ("byte_by_byte", 20)]
)
def test_fragmented_server_reads_exactly_the_recorded_pieces(mode: str, pause_ms: int) -> None:
    with RecordingServer(http()) as server:
        history, result = run_against(
            server, "fragmented", seed=5, mode=mode, pause_ms=pause_ms, fragments=5, body_bytes=24
        )
        (seen,) = server.wait_closed(1)
    pieces = sends(history)
    request = b"".join(pieces)
    assert_read_as_sent(seen, history)  # pauses plus TCP_NODELAY keep every boundary
    assert only(result)["responses"][0]["expected_ok"] is True
    header_end = request.index(b"\r\n\r\n") + 4
    boundaries = [sum(len(p) for p in pieces[:i]) for i in range(1, len(pieces))]
    if mode == "byte_by_byte":
        assert all(len(piece) == 1 for piece in pieces)
    elif mode == "crlf":
        line_ends = [i + 1 for i in range(header_end) if request[i : i + 2] == b"\r\n"]
        assert boundaries == line_ends
        assert all(
            a.endswith(b"\r") and b.startswith(b"\n") for a, b in itertools.pairwise(pieces)
        )
    elif mode == "body":
        assert len(boundaries) == 4
        assert all(header_end < boundary < len(request) for boundary in boundaries)
    else:
        assert len(pieces) == 5
    assert len(recorded_pauses(history)) == len(pieces) - 1


def test_slowloris_trickles_the_header_until_the_server_closes() -> None:
    with RecordingServer(http(header_timeout=0.6)) as server:
        history, result = run_against(server, "slowloris", chunk_bytes=3, interval_ms=50, max_duration_s=5)
        (seen,) = server.wait_closed(1)
    assert seen.timed_out and seen.end == "eof"  # the client left once it saw the FIN
    assert b"\r\n\r\n" not in seen.received()
    assert_read_as_sent(seen, history)
    assert all(len(piece) == 3 for piece in sends(history))
    conn = only(result)
    assert conn["closed_by"] == "server_fin"
    assert 0.6 <= conn["elapsed_s"] < 3.0
    assert conn["error"] is None


def test_slowloris_reports_a_server_reset_as_such() -> None:
    with RecordingServer(http(header_timeout=0.4, on_timeout="reset")) as server:
        _, result = run_against(server, "slowloris", interval_ms=50, max_duration_s=5)
    conn = only(result)
    assert conn["closed_by"] == "server_reset"
    assert conn["error"] == "ECONNRESET"
    assert 0.4 <= conn["elapsed_s"] < 3.0


def test_slowloris_stops_at_max_duration_when_the_server_never_closes() -> None:
    with RecordingServer(record_only()) as server:
        history, result = run_against(server, "slowloris", interval_ms=50, max_duration_s=0.5)
        (seen,) = server.wait_closed(1)
    assert only(result)["closed_by"] == "deadline"
    assert 0.5 <= deadline_at(history) < 1.5
    assert result["duration_s"] < 1.5
    assert seen.end == "eof"  # the client closed at its deadline
    assert kinds(history)[-2:] == ["deadline", "close"]


def test_a_trickle_without_pauses_is_bounded_in_operations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor, "MAX_OPS", 50)
    with RecordingServer(record_only()) as server:
        history, result = run_against(server, "slowloris", interval_ms=0, max_duration_s=30)
        (seen,) = server.wait_closed(1)
    assert only(result)["closed_by"] == "deadline"
    assert len(history.connections[0].ops) <= 52
    assert history.connections[0].ops[-2].args == {"reason": "max_ops"}
    assert seen.received() == b"".join(sends(history))


def test_slow_body_trickles_the_body_and_gets_it_echoed() -> None:
    with RecordingServer(http()) as server:
        history, result = run_against(server, "slow_body", body_bytes=40, chunk_bytes=8, interval_ms=40)
        (seen,) = server.wait_closed(1)
    pieces = sends(history)
    assert_read_as_sent(seen, history)
    assert pieces[0].endswith(b"\r\n\r\n") and b"Content-Length: 40\r\n" in pieces[0]
    assert [len(piece) for piece in pieces[1:]] == [8] * 5
    assert only(result)["responses"][0]["expected_ok"] is True


def test_slow_body_cut_off_by_the_server_reports_when() -> None:
    with RecordingServer(http(header_timeout=0.4)) as server:
        history, result = run_against(server, "slow_body", body_bytes=400, chunk_bytes=4, interval_ms=40)
        (seen,) = server.wait_closed(1)
    assert seen.timed_out
    assert_read_as_sent(seen, history)
    header, *body = sends(history)
    assert header.endswith(b"\r\n\r\n") and 0 < len(b"".join(body)) < 400  # the body never finished
    conn = only(result)
    assert conn["closed_by"] == "server_fin" and conn["responses"] == []
    assert 0.4 <= conn["elapsed_s"] < 2.0


# The behaviours the lab expects a server to cut off, each bounded by max_duration_s when it does not.
CUT_OFF_CASES = [
    ("slowloris", {"interval_ms": 30}),
    ("slow_body", {"interval_ms": 30, "body_bytes": 100_000}),
    ("connect_and_idle", {}),
    ("malformed", {"variant": "endless_headers", "interval_ms": 30}),
    ("slow_reader", {"mode": "stop", "probe_interval_ms": 100}),
]


@pytest.mark.parametrize(("behaviour", "attributes"), CUT_OFF_CASES, ids=[case[0] for case in CUT_OFF_CASES])
def test_a_server_that_never_cuts_off_meets_max_duration(behaviour: str, attributes: dict[str, Any]) -> None:
    handler = blast(total=8 << 20, sndbuf=4096, stall_timeout=5.0) if behaviour == "slow_reader" else record_only()
    with RecordingServer(handler) as server:
        history, result = run_against(server, behaviour, max_duration_s=0.4, **attributes)
    conn = only(result)
    assert conn["closed_by"] == "deadline"
    assert 0.4 <= deadline_at(history) < 1.0
    assert 0.3 <= conn["elapsed_s"] < 1.0  # since the connect
    assert result["duration_s"] < 1.0
    assert kinds(history)[-1] == "close"


def test_slow_reader_that_stops_reading_closes_the_window_until_the_server_resets() -> None:
    handler = blast(total=8 << 20, sndbuf=4096, stall_timeout=0.5)
    with RecordingServer(handler) as server:
        history, result = run_against(
            server, "slow_reader", mode="stop", rcvbuf_bytes=4096, probe_interval_ms=0, max_duration_s=8
        )
        (seen,) = server.wait_closed(1)
    # The server's non-blocking writes hit a shut window and stayed shut for stall_timeout:
    assert seen.stalled_at is not None and seen.stalled_at < 512 * 1024
    conn = only(result)
    assert conn["bytes_received"] == 0
    assert conn["closed_by"] == "server_reset"
    assert conn["error"] == "ECONNRESET"
    assert 0.5 <= conn["elapsed_s"] < 5.0
    peer = [op for op in history.connections[0].ops if op.kind == "peer_closed"]
    assert [op.args["state"] for op in peer] == ["CLOSE"]


def test_slow_reader_that_stops_reading_cannot_see_a_fin_queued_behind_unread_data() -> None:
    # TCP delivers the FIN after the data, so a client that never reads (and never probes) learns
    # nothing until its deadline.
    handler = blast(total=8 << 20, sndbuf=4096, stall_timeout=0.3, on_stall="drain")
    with RecordingServer(handler) as server:
        history, result = run_against(
            server, "slow_reader", mode="stop", probe_interval_ms=0, max_duration_s=1.0
        )
    assert only(result)["closed_by"] == "deadline"
    assert 1.0 <= deadline_at(history) < 2.0


@pytest.mark.parametrize("on_stall", ["close", "drain"])
def test_slow_reader_probes_make_a_quiet_server_close_a_timed_reset(on_stall: str) -> None:
    # "close": the unread probe makes the server's close a RST; "drain": the server read the probes and
    # its close queued a FIN behind the response, so the next probe hits a closed socket and gets a RST.
    handler = blast(total=8 << 20, sndbuf=4096, stall_timeout=0.4, on_stall=on_stall)
    with RecordingServer(handler) as server:
        history, result = run_against(
            server, "slow_reader", mode="stop", probe_interval_ms=100, max_duration_s=5
        )
        (seen,) = server.wait_closed(1)
    assert seen.gave_up_at is not None
    request = sends(history)[0]
    probes = sends(history)[1:]
    assert probes and all(probe == b"\r\n" for probe in probes)
    if on_stall == "drain":
        assert seen.received().startswith(request + b"\r\n")  # the server did read probes
    conn = only(result)
    assert conn["closed_by"] == "server_reset"
    assert conn["error"] in ("ECONNRESET", "EPIPE")
    assert conn["bytes_received"] == 0
    # Timed to within one probe interval (plus scheduling slack) of the server giving up:
    connected_at = seen.chunk_times[0]  # the request arrived right after the connect
    gave_up_after = seen.gave_up_at - connected_at
    assert gave_up_after - 0.05 <= conn["elapsed_s"] <= gave_up_after + 0.1 + 0.4


def test_slow_reader_reads_small_pieces_slowly_and_the_server_has_to_wait() -> None:
    handler = blast(total=16384, sndbuf=4096, stall_timeout=5.0, on_stall="close")
    with RecordingServer(handler) as server:
        history, result = run_against(
            server,
            "slow_reader",
            response_bytes=16384,
            read_bytes=1024,
            read_interval_ms=20,
            max_duration_s=8,
        )
        (seen,) = server.wait_closed(1)
    received = [op.data or b"" for op in history.connections[0].ops if op.kind == "recv"]
    assert all(len(data) <= 1024 for data in received)
    assert only(result)["responses"][0]["expected_ok"] is True
    assert seen.write_stalls >= 1


def test_half_close_is_a_real_shutdown_and_the_server_can_still_answer() -> None:
    with RecordingServer(respond_after_eof()) as server:
        history, result = run_against(server, "half_close", path="/echo", body_bytes=100)
        (seen,) = server.wait_closed(1)
    assert seen.end == "eof"
    assert seen.wrote_after_eof and seen.write_error is None
    assert seen.received() == b"".join(sends(history))
    conn = only(result)
    assert conn["responses"][0]["expected_ok"] is True
    assert conn["closed_by"] == "server_fin"
    ops = kinds(history)
    assert ops.index("shutdown") < ops.index("recv")


def test_abort_mid_request_sends_a_prefix_then_a_fin() -> None:
    with RecordingServer(record_only()) as server:
        history, result = run_against(server, "abort_mid_request", send_bytes=30)
        (seen,) = server.wait_closed(1)
    assert seen.received() == b"".join(sends(history))
    assert len(seen.received()) == 30
    assert parse_request(seen.received()) is None  # incomplete on purpose
    assert seen.end == "eof"
    assert only(result)["closed_by"] == "server_fin"


def test_reset_mid_request_is_seen_by_the_server_as_econnreset() -> None:
    with RecordingServer(record_only()) as server:
        history, result = run_against(server, "reset_mid_request", seed=3)
        (seen,) = server.wait_closed(1)
    assert seen.end == "ECONNRESET"
    assert seen.received() == b"".join(sends(history))
    assert parse_request(seen.received()) is None
    assert kinds(history)[-1] == "reset"
    assert only(result)["closed_by"] == "client"


@pytest.mark.parametrize(
    ("behaviour", "last_op"), [("reset_mid_response", "reset"), ("close_after_partial_response", "close")]
)
def test_giving_up_mid_response_breaks_the_servers_write(behaviour: str, last_op: str) -> None:
    handler = blast(total=32 << 20, sndbuf=65536, stall_timeout=5.0)
    with RecordingServer(handler) as server:
        history, result = run_against(server, behaviour, response_bytes=32 << 20, after_bytes=4096)
        (seen,) = server.wait_closed(1)
    assert seen.write_error in ("ECONNRESET", "EPIPE")
    conn = only(result)
    assert conn["bytes_received"] >= 4096
    assert conn["responses"][0]["complete"] is False
    assert conn["closed_by"] == "client"
    assert kinds(history)[-1] == last_op


def test_connect_and_close_sends_nothing_and_closes_with_a_fin() -> None:
    with RecordingServer(record_only()) as server:
        _, result = run_against(server, "connect_and_close", connections=5)
        seen = server.wait_closed(5)
    assert [(c.end, c.received()) for c in seen] == [("eof", b"")] * 5
    assert result["summary"]["closed_by"] == {"client": 5}


def test_connect_and_idle_reports_when_the_server_gave_up() -> None:
    with RecordingServer(http(header_timeout=0.5)) as server:
        _, result = run_against(server, "connect_and_idle", idle_s=5, max_duration_s=5)
    conn = only(result)
    assert conn["bytes_sent"] == 0
    assert conn["closed_by"] == "server_fin"
    assert 0.5 <= conn["elapsed_s"] < 3.0


def check_malformed(variant: str, request: bytes, size: int) -> None:
    head = request.split(b"\r\n\r\n")[0]
    request_line, *headers = head.split(b"\r\n")
    names = [line.partition(b":")[0].lower() for line in headers]
    if variant == "garbage":
        assert len(request) == size + 4
    elif variant == "non_utf8":
        for part in (request_line, b"\r\n".join(headers)):
            with pytest.raises(UnicodeDecodeError):
                part.decode("utf-8")
    elif variant == "nul_bytes":
        assert b"\x00" in request_line and b"\x00" in b"".join(headers)
    elif variant == "huge_header":
        assert max(len(line) for line in headers) > size
    elif variant == "cl_and_te":
        assert b"content-length" in names and b"transfer-encoding" in names
    elif variant == "negative_cl":
        assert b"Content-Length: -1" in headers
    elif variant == "conflicting_cl":
        values = {
            line.partition(b":")[2].strip() for line in headers if line.lower().startswith(b"content-length")
        }
        assert names.count(b"content-length") == 2 and len(values) == 2
    elif variant.startswith("bad_version"):
        assert not request_line.endswith(b" HTTP/1.1")
    elif variant == "missing_host":
        assert request_line.endswith(b" HTTP/1.1") and b"host" not in names
    elif variant.startswith("duplicate_host_"):
        values = {line.partition(b":")[2].strip() for line in headers if line.lower().startswith(b"host:")}
        assert request_line.endswith(b" HTTP/1.1") and names.count(b"host") == 2
        assert len(values) == (1 if variant.endswith("_identical") else 2)
    elif variant.startswith("invalid_host_"):
        (value,) = [line.partition(b":")[2].strip() for line in headers if line.lower().startswith(b"host:")]
        assert re.fullmatch(rb"[A-Za-z0-9.\-]+(:[0-9]+)?", value) is None
    elif variant == "http10_te":
        assert request_line.endswith(b" HTTP/1.0") and b"transfer-encoding" in names
    elif variant.startswith("te_not_final_"):
        (value,) = [line.partition(b":")[2].strip() for line in headers if line.lower().startswith(b"transfer-")]
        assert value.split(b",")[-1].strip() != b"chunked"
    elif variant == "body_after_error":
        assert int(dict(line.split(b": ", 1) for line in headers)[b"Content-Length"]) > len(request) > size
    elif variant == "head_error":
        assert request_line.startswith(b"HEAD ") and any(b":" not in line for line in headers)
    else:
        raise AssertionError(variant)


MALFORMED = [
    "garbage",
    "non_utf8",
    "nul_bytes",
    "huge_header",
    "cl_and_te",
    "negative_cl",
    "conflicting_cl",
    "bad_version",
    *(f"bad_version_{name}" for name in BAD_VERSION_BY_NAME),
    "missing_host",
    "duplicate_host_identical",
    "duplicate_host_differing",
    *(f"invalid_host_{name}" for name in INVALID_HOSTS),
    "http10_te",
    *(f"te_not_final_{name}" for name in TE_NOT_FINAL),
    "head_error",
    "body_after_error",
]


@pytest.mark.parametrize("family", [BAD_VERSION_BY_NAME, INVALID_HOSTS, TE_NOT_FINAL])
def test_each_value_a_seeded_probe_picked_from_is_now_its_own_variant(family: dict[str, str]) -> None:
    """Every seed sends the same request for a named variant, and the names cover every value (issue 22)."""
    prefix = {id(BAD_VERSION_BY_NAME): "bad_version_", id(INVALID_HOSTS): "invalid_host_",
              id(TE_NOT_FINAL): "te_not_final_"}[id(family)]
    sent: set[bytes] = set()
    for name, value in family.items():
        builder = BUILDERS[prefix + name]
        requests = {builder("example", random.Random(seed), 10, "/echo") for seed in range(20)}
        assert len(requests) == 1 and value.encode() in requests.pop()
        sent.add(builder("example", random.Random(0), 10, "/echo"))
    assert len(sent) == len(family)


@pytest.mark.parametrize("variant", MALFORMED)
def test_malformed_sends_exactly_the_promised_malformation(variant: str) -> None:
    def reject(connection: Any) -> None:
        while b"\r\n\r\n" not in connection.received():
            if not connection.read(10.0):
                return
        connection.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    with RecordingServer(reject) as server:
        history, result = run_against(server, "malformed", variant=variant, size_bytes=2000, seed=11)
        (seen,) = server.wait_closed(1)
    (request,) = sends(history)
    assert seen.received() == request
    check_malformed(variant, request, 2000)
    assert [r["status"] for r in only(result)["responses"]] == [400]


def smuggled(connection: Any) -> None:
    """A server that ignores Transfer-Encoding on HTTP/1.0: an empty 200, then the chunked body read as the next
    request (a 400), and the connection kept."""
    while b"\r\n\r\n" not in connection.received():
        if not connection.read(5.0):
            return
    connection.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    while b"0\r\n\r\n" not in connection.received().partition(b"\r\n\r\n")[2]:
        if not connection.read(5.0):
            return
    connection.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    connection.read_to_end(5.0)


def test_framing_that_owes_a_close_waits_to_see_a_second_response_and_who_closes() -> None:
    """After its response, http10_te reads on for CLOSE_WAIT_S: a kept connection and the body answered as a
    request both show in the result (before issue 22 the client closed after one response)."""
    with RecordingServer(smuggled) as server:
        _, result = run_against(server, "malformed", variant="http10_te")
        server.wait_closed(1)
    conn = only(result)
    assert [r["status"] for r in conn["responses"]] == [200, 400]
    assert conn["closed_by"] == "client" and conn["elapsed_s"] >= 1.0


@pytest.mark.parametrize("variant", ["http10_te", "cl_and_te", "te_not_final_identity"])
def test_framing_that_owes_a_close_sees_the_server_close(variant: str) -> None:
    def reject_and_close(connection: Any) -> None:
        while b"\r\n\r\n" not in connection.received():
            if not connection.read(5.0):
                return
        connection.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        time.sleep(0.2)  # then the close: the client must still be reading to see it

    with RecordingServer(reject_and_close) as server:
        _, result = run_against(server, "malformed", variant=variant)
        server.wait_closed(1)
    conn = only(result)
    assert [r["status"] for r in conn["responses"]] == [400]
    assert conn["closed_by"] == "server_fin" and conn["elapsed_s"] < 1.0


def test_malformed_endless_headers_send_whole_lines_until_the_server_closes() -> None:
    with RecordingServer(http(header_timeout=0.5)) as server:
        history, result = run_against(server, "malformed", variant="endless_headers", interval_ms=40)
        (seen,) = server.wait_closed(1)
    assert_read_as_sent(seen, history)
    assert len(sends(history)) >= 3
    assert all(line.endswith(b"\r\n") for line in sends(history))
    assert b"\r\n\r\n" not in seen.received()
    assert only(result)["closed_by"] == "server_fin"


def test_flood_holds_all_connections_open_at_once() -> None:
    with RecordingServer(record_only()) as server:
        _, result = run_against(server, "flood", connections=30, hold_s=0.5)
        server.wait_closed(30)
    assert server.most_open == 30
    assert result["summary"]["closed_by"] == {"client": 30}
    assert all(conn["elapsed_s"] >= 0.5 for conn in result["connections"])


def test_a_flood_holds_all_at_once_but_opens_a_few_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every connection is held at once, yet at most MAX_OPENING connections are opening together."""
    from clients import runner

    monkeypatch.setattr(runner, "MAX_OPENING", 4)
    in_flight, most = 0, 0
    lock = threading.Lock()
    plain_connect = socket.socket.connect

    def slow_connect(sock: socket.socket, address: Any) -> None:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        try:
            time.sleep(0.02)  # a handshake that takes a while, so that connects overlap
            plain_connect(sock, address)
        finally:
            with lock:
                in_flight -= 1

    monkeypatch.setattr(socket.socket, "connect", slow_connect)
    with RecordingServer(record_only()) as server:
        _, result = run_against(server, "flood", connections=24, hold_s=0.5)
        server.wait_closed(24)
    assert most == 4
    assert server.most_open == 24
    assert result["summary"]["closed_by"] == {"client": 24}


def test_flood_with_requests_gets_every_response_first() -> None:
    with RecordingServer(http()) as server:
        _, result = run_against(server, "flood", connections=10, hold_s=0.2, idle="false")
    assert result["summary"]["expected_ok"] == 10


def test_flood_ending_reset_ends_each_connection_with_a_rst() -> None:
    with RecordingServer(record_only()) as server:
        _, result = run_against(server, "flood", connections=5, hold_s=0.1, ending="reset")
        seen = server.wait_closed(5)
    assert [c.end for c in seen] == ["ECONNRESET"] * 5
    assert result["summary"]["closed_by"] == {"client": 5}


def test_connect_storm_makes_every_connection() -> None:
    with RecordingServer(record_only()) as server:
        _, result = run_against(server, "connect_storm", connections=200)
        seen = server.wait_closed(200)
    assert len(seen) == 200 and all(c.end == "eof" for c in seen)
    assert result["summary"]["closed_by"] == {"client": 200}


# -- RFC 9112 probes a server must accept: the answer is known and checked byte for byte ----------------


def _dechunk(data: bytes) -> bytes:
    body, pos = bytearray(), 0
    while True:
        line_end = data.index(b"\r\n", pos)
        size = int(data[pos:line_end], 16)
        if size == 0:
            return bytes(body)
        body += data[line_end + 2 : line_end + 2 + size]
        pos = line_end + 2 + size + 2


def answer_probe(connection: Any) -> None:
    """A correct server for the accepted probes: routes on the path, decodes a chunked body."""
    while True:
        data = connection.received()
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep and (b"chunked" not in head or rest.endswith(b"0\r\n\r\n")):
            break
        if not connection.read(10.0):
            return
    target = head.split(b" ")[1].decode()
    path = target.split("://", 1)[-1].partition("/")[2].partition("?")[0] if "://" in target else target[1:]
    path = path.partition("?")[0]
    if path == "echo":
        body = _dechunk(rest)
    elif path.startswith("bytes/"):
        body = byte_pattern(int(path[6:]))
    else:
        body = HELLO
    connection.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%b" % (len(body), body))


@pytest.mark.parametrize("variant", ["absolute_form", "query_string", "tiny_chunks"])
def test_accepted_probes_expect_the_known_body(variant: str) -> None:
    with RecordingServer(answer_probe) as server:
        history, result = run_against(server, "malformed", variant=variant, size_bytes=3001, seed=5)
        (seen,) = server.wait_closed(1)
    (request,) = sends(history)
    assert seen.received() == request
    request_line = request.partition(b"\r\n")[0]
    if variant == "absolute_form":
        assert request_line.split(b" ")[1].startswith(b"http://")
    elif variant == "query_string":
        assert b"?" in request_line
    else:
        assert request.count(b"\r\n2\r\n") == 3001 // 2 and b"\r\n1\r\n" in request  # 2-byte chunks
    (response,) = only(result)["responses"]
    assert (response["status"], response["expected_ok"]) == (200, True)


def test_accepted_probe_with_a_wrong_body_is_flagged() -> None:
    def wrong(connection: Any) -> None:
        while b"\r\n\r\n" not in connection.received():
            if not connection.read(10.0):
                return
        connection.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nnot")

    with RecordingServer(wrong) as server:
        _, result = run_against(server, "malformed", variant="absolute_form")
        server.wait_closed(1)
    assert [r["expected_ok"] for r in only(result)["responses"]] == [False]


@pytest.mark.parametrize("body", [b"", b"400 Bad Request\n"], ids=["no body", "a body"])
def test_head_error_response_with_a_body_shows_as_unparseable_bytes(body: bytes) -> None:
    def answer(connection: Any) -> None:
        while b"\r\n\r\n" not in connection.received():
            if not connection.read(10.0):
                return
        connection.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 16\r\nConnection: close\r\n\r\n" + body)

    with RecordingServer(answer) as server:
        _, result = run_against(server, "malformed", variant="head_error")
        server.wait_closed(1)
    statuses = [r["status"] for r in only(result)["responses"]]
    assert statuses == ([400] if not body else [400, UNPARSEABLE])
    assert (only(result)["protocol_error"] is None) == (not body)


@pytest.mark.parametrize(
    ("expect_body", "ok"),
    [
        (f"{len(HELLO)}:{hashlib.sha256(HELLO).hexdigest()}", True),
        (f"{len(HELLO)}:{hashlib.sha256(b'another body!').hexdigest()}", False),
        ("", True),
    ],
)
def test_expect_body_gives_another_targets_body_by_length_and_sha256(expect_body: str, ok: bool) -> None:
    with RecordingServer(http()) as server:
        _, result = run_against(server, "well_behaved", requests=1, expect_body=expect_body)
    assert [r["expected_ok"] for r in only(result)["responses"]] == [ok]


def test_expect_body_status_checks_the_status_only() -> None:
    with RecordingServer(http()) as server:
        _, result = run_against(server, "flood", idle=False, hold_s=0, path="/", expect_body="status")
    (response,) = only(result)["responses"]
    assert response["status"] == 200 and response["expected_ok"] is None


def test_a_bad_expect_body_is_one_line_naming_the_attribute() -> None:
    from clients.registry import BadArgument, get_behaviour

    behaviour = get_behaviour("slow_reader")
    with pytest.raises(BadArgument, match="attribute expect_body"):
        behaviour(behaviour.resolve({"expect_body": "12:nothex"})).validate()


def mirror(connection: Any) -> None:
    """A server whose echo route is /mirror (and nothing at /echo): one request, then a close."""
    while not isinstance(parsed := parse_request(connection.received()), tuple):
        if parsed == "bad" or not connection.read(10.0):
            return
    path, body, _ = parsed
    payload = body if path == "/mirror" else b""
    status = b"200 OK" if path == "/mirror" else b"404 Not Found"
    connection.write(b"HTTP/1.1 %b\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%b" % (status, len(payload),
                                                                                           payload))


@pytest.mark.parametrize(("behaviour", "attributes"), [
    ("well_behaved", {"requests": 1, "path": "/mirror", "echo_path": "/mirror", "body_bytes": 300}),
    ("half_close", {"path": "/mirror", "echo_path": "/mirror", "body_bytes": 300}),
    ("fragmented", {"path": "/mirror", "mode": "crlf", "pause_ms": 1, "body_bytes": 300}),
    ("slow_body", {"path": "/mirror", "interval_ms": 1, "chunk_bytes": 100, "body_bytes": 300}),
    ("malformed", {"variant": "tiny_chunks", "path": "/mirror", "size_bytes": 300}),
])
def test_a_post_goes_to_the_echo_route_the_target_declares(behaviour: str, attributes: dict[str, Any]) -> None:
    with RecordingServer(mirror_chunked if behaviour == "malformed" else mirror) as server:
        history, result = run_against(server, behaviour, **attributes)
        server.wait_closed(1)
    assert b"".join(sends(history)).startswith(b"POST /mirror HTTP/1.1\r\n")
    (response,) = only(result)["responses"]
    assert (response["status"], response["body_len"], response["expected_ok"]) == (200, 300, True)


def mirror_chunked(connection: Any) -> None:
    """/mirror echoes a chunked body."""
    while not connection.received().endswith(b"0\r\n\r\n"):
        if not connection.read(10.0):
            return
    head, _, rest = connection.received().partition(b"\r\n\r\n")
    body = _dechunk(rest) if head.startswith(b"POST /mirror ") else b""
    connection.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%b" % (len(body), body))


@pytest.mark.parametrize(("variant", "path", "line"), [
    ("absolute_form", "/hi", b"GET http://{host}/hi HTTP/1.1"), ("query_string", "/blob", b"GET /blob?"),
])
def test_the_accepted_probes_ask_the_targets_route_and_expect_its_body(variant: str, path: str, line: bytes) -> None:
    body = b"the target's own body\n"

    def answer(connection: Any) -> None:
        while b"\r\n\r\n" not in connection.received():
            if not connection.read(10.0):
                return
        connection.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%b" % (len(body), body))

    expect_body = f"{len(body)}:{hashlib.sha256(body).hexdigest()}"
    with RecordingServer(answer) as server:
        history, result = run_against(server, "malformed", variant=variant, path=path, expect_body=expect_body)
        server.wait_closed(1)
    (request,) = sends(history)
    host = request.split(b"Host: ")[1].split(b"\r\n")[0]
    assert request.startswith(line.replace(b"{host}", host))
    assert [r["expected_ok"] for r in only(result)["responses"]] == [True]


@pytest.mark.parametrize("behaviour", ["reset_mid_response", "close_after_partial_response"])
def test_a_partial_reader_asks_the_targets_large_route(behaviour: str) -> None:
    with RecordingServer(record_only()) as server:
        history, _ = run_against(server, behaviour, path="/blob", after_bytes=1, max_duration_s=0.5)
    assert sends(history)[0].startswith(b"GET /blob HTTP/1.1\r\n")
