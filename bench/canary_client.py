"""A canary: sequential keep-alive `GET /` on one connection, timed one by one.

`python -m bench.canary_client PORT --seconds S --max-requests N` prints one JSON object with the
count, p50, p99 and max latency in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import time
from collections.abc import Sequence

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
IO_TIMEOUT_S = 5.0


def read_response(sock: socket.socket, buffered: bytes) -> bytes:
    """Reads one response with a Content-Length; returns what came after it."""
    data = buffered
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += _recv(sock)
    return rest[length:]


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("the server closed the canary's connection")
    return chunk


def latencies(port: int, seconds: float, max_requests: int) -> list[float]:
    samples: list[float] = []
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        leftover = b""
        deadline = time.monotonic() + seconds
        while len(samples) < max_requests and time.monotonic() < deadline:
            started = time.perf_counter()
            sock.sendall(REQUEST)
            leftover = read_response(sock, leftover)
            samples.append(time.perf_counter() - started)
    return samples


def summary(samples: list[float]) -> dict[str, float | int]:
    if len(samples) < 2:
        raise RuntimeError(f"only {len(samples)} canary requests completed")
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"requests": len(samples), "p50_ms": cuts[49] * 1e3, "p99_ms": cuts[98] * 1e3,
            "max_ms": max(samples) * 1e3}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.canary_client")
    parser.add_argument("port", type=int)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--max-requests", type=int, default=50_000)
    args = parser.parse_args(argv)
    try:
        result: dict[str, object] = dict(summary(latencies(args.port, args.seconds, args.max_requests)))
    except (OSError, RuntimeError) as err:
        result = {"error": f"{type(err).__name__}: {err}"}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
