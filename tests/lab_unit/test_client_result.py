"""The one reader of the clients' JSON: it agrees with what the clients print, and refuses anything else."""

from __future__ import annotations

import json
from typing import Any

import pytest

from clients.history import ConnectionHistory, Op, RunHistory, summarize, summarize_run
from clients.http import sha256_hex
from lab.chaos.model.client_result import ClientResultError, RunResult

HELLO_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nhello, epoll\n"


def printed(*received: bytes, expect: bool = True) -> dict[str, Any]:
    """What `python -m clients run --json` prints for one connection that received these bytes."""
    ops = [Op(0.0, "connect")]
    if expect:
        ops.append(Op(0.0, "expect", args={"body_len": 13, "body_sha256": sha256_hex(b"hello, epoll\n")}))
    ops += [Op(0.01, "send", b"GET / HTTP/1.1\r\n\r\n"), *(Op(0.02, "recv", data) for data in received),
            Op(0.03, "close")]
    history = RunHistory("well_behaved", 7, "target:8080", {"requests": 1}, 1, 0.05, [ConnectionHistory(0, ops)])
    encoded: dict[str, Any] = json.loads(json.dumps(summarize(history)))  # as printed: plain JSON types
    return encoded


def test_reads_what_the_clients_print_and_writes_it_back() -> None:
    data = printed(HELLO_RESPONSE)
    result = RunResult.from_json(data)
    (connection,) = result.connections
    (response,) = connection.responses
    assert (response.status, response.complete, response.expected_ok, response.wrong_body) == (200, True, True, False)
    assert connection.closed_by == "client" and connection.protocol_error is None
    assert result.to_json()["connections"] == data["connections"]
    assert dict(result.summary) == data["summary"]


def test_writer_and_reader_share_one_schema() -> None:
    """The clients build the very type the lab reads back: printing and reading it changes nothing."""
    ops = [Op(0.0, "connect"), Op(0.01, "send", b"GET / HTTP/1.1\r\n\r\n"), Op(0.02, "recv", HELLO_RESPONSE),
           Op(0.03, "close")]
    history = RunHistory("well_behaved", 7, "target:8080", {"requests": 1}, 1, 0.05, [ConnectionHistory(0, ops)],
                         replayed_from="h.json")
    written = summarize_run(history)
    read = RunResult.from_json(json.loads(json.dumps(summarize(history))))
    assert read == written
    assert read.to_json() == summarize(history)
    assert (read.target, read.replayed_from) == ("target:8080", "h.json")


def test_a_wrong_body_and_a_protocol_error_are_kept() -> None:
    wrong = RunResult.from_json(printed(HELLO_RESPONSE.replace(b"epoll", b"EPOLL")))
    assert wrong.connections[0].responses[0].wrong_body
    garbled = RunResult.from_json(printed(HELLO_RESPONSE + b"not http\r\n\r\n"))
    assert garbled.connections[0].protocol_error == "bad status line"


@pytest.mark.parametrize(("path", "value", "message"), [
    (("connections", 0, "closed_by"), "someone", "closed_by 'someone' is not one of"),
    (("connections", 0, "responses", 0, "status"), True, "'status' is True, not int"),
    (("connections", 0, "responses", 0, "complete"), 1, "'complete' is 1, not bool"),
    (("connections", 0, "elapsed_s"), "soon", "'elapsed_s' is 'soon'"),
    (("connections", 0, "responses"), None, "'responses' is None"),
])
def test_a_malformed_result_is_refused_with_where_and_what(path: tuple[Any, ...], value: object,
                                                             message: str) -> None:
    data = printed(HELLO_RESPONSE)
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ClientResultError, match=message):
        RunResult.from_json(data)


def test_a_missing_field_or_a_non_object_is_refused() -> None:
    data = printed(HELLO_RESPONSE)
    del data["connections"][0]["protocol_error"]
    with pytest.raises(ClientResultError, match=r"connection #0: missing 'protocol_error'"):
        RunResult.from_json(data)
    with pytest.raises(ClientResultError, match="expected an object"):
        RunResult.from_json([1, 2])
