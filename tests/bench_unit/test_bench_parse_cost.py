"""bench.parse_cost: its requests are wrk's, and every one of them is answered on the fast path (no socket)."""

from __future__ import annotations

import pytest

from bench import parse_cost


def test_the_requests_are_what_wrk_format_sends() -> None:
    assert parse_cost.requests("distinct", 2) == [
        b"GET /?n=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
        b"GET /?n=2 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
    ]
    repeated = parse_cost.requests("repeated", 2)
    assert repeated == [b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"] * 2
    assert repeated[0] is not repeated[1]  # a fresh object each, like each recv's


@pytest.mark.parametrize("workload", ["distinct", "repeated"])
def test_every_request_is_answered_on_the_fast_path(workload: str) -> None:
    assert parse_cost.drive(parse_cost.requests(workload, 300)) > 0  # raises when one leaves it


def test_a_request_off_the_fast_path_is_reported() -> None:
    with pytest.raises(RuntimeError, match="left the fast path"):
        parse_cost.drive([b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx"])
