"""The history of a run (Jepsen-style): per connection, the operations with timestamps.

Client operations: connect, send (exact bytes), pause, stall, read, shutdown, reset, close, expect.
Observations: recv (exact bytes; empty = end of input), peer_closed, error, deadline.
``summarize`` turns a history into the ``run --json`` result and is a pure function.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clients.http import parse_responses, sha256_hex
from clients.results import ConnectionResult, ResponseResult, RunResult, run_summary

FORMAT = "epoll-lab-history/1"
ArgValue = int | float | str | bool | None
# Errors that mean the peer's TCP answered with a RST (on send, on recv, or to our SYN).
RESET_ERRORS = frozenset({"ECONNRESET", "EPIPE", "ECONNREFUSED", "ECONNABORTED"})


@dataclass
class Op:
    t: float  # seconds since the run started (monotonic clock)
    kind: str
    data: bytes | None = None  # send and recv only
    args: dict[str, ArgValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        encoded: dict[str, Any] = {"t": self.t, "op": self.kind}
        if self.data is not None:
            encoded["data"] = base64.b64encode(self.data).decode("ascii")
        encoded.update(self.args)
        return encoded

    @classmethod
    def from_json(cls, encoded: dict[str, Any]) -> Op:
        rest = {key: value for key, value in encoded.items() if key not in ("t", "op", "data")}
        data = base64.b64decode(encoded["data"], validate=True) if "data" in encoded else None
        return cls(float(encoded["t"]), str(encoded["op"]), data, rest)


@dataclass
class ConnectionHistory:
    index: int
    ops: list[Op]


@dataclass
class RunHistory:
    behaviour: str
    seed: int
    target: str
    attributes: dict[str, Any]
    concurrency: int
    duration_s: float
    connections: list[ConnectionHistory]
    replayed_from: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "behaviour": self.behaviour,
            "seed": self.seed,
            "target": self.target,
            "attributes": self.attributes,
            "concurrency": self.concurrency,
            "duration_s": self.duration_s,
            "replayed_from": self.replayed_from,
            "connections": [
                {"index": conn.index, "ops": [op.to_json() for op in conn.ops]} for conn in self.connections
            ],
        }

    @classmethod
    def from_json(cls, encoded: dict[str, Any]) -> RunHistory:
        if encoded.get("format") != FORMAT:
            raise ValueError(f"not a history file (format {encoded.get('format')!r}, expected {FORMAT})")
        return cls(
            behaviour=str(encoded["behaviour"]),
            seed=int(encoded["seed"]),
            target=str(encoded["target"]),
            attributes=dict(encoded["attributes"]),
            concurrency=int(encoded["concurrency"]),
            duration_s=float(encoded["duration_s"]),
            replayed_from=encoded.get("replayed_from"),
            connections=[
                ConnectionHistory(int(conn["index"]), [Op.from_json(op) for op in conn["ops"]])
                for conn in encoded["connections"]
            ],
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> RunHistory:
        return cls.from_json(json.loads(path.read_text()))


def _close_event(op: Op) -> str | None:
    """How this operation ends the connection, if it does."""
    if op.kind == "recv" and op.data == b"":
        return "server_fin"
    if op.kind == "peer_closed":
        return "server_reset" if op.args.get("state") == "CLOSE" else "server_fin"
    if op.kind == "error":
        return "server_reset" if op.args.get("name") in RESET_ERRORS else "client"
    if op.kind == "deadline":
        return "deadline"
    if op.kind in ("close", "reset"):
        return "client"
    return None


def summarize_connection(history: ConnectionHistory) -> ConnectionResult:
    ops = history.ops
    connect = next((op for op in ops if op.kind == "connect"), None)
    start = connect.t if connect is not None else None
    sent = sum(len(op.data or b"") for op in ops if op.kind == "send")
    received = [op for op in ops if op.kind == "recv"]
    stream = b"".join(op.data or b"" for op in received)
    first_byte = next((op.t for op in received if op.data), None)
    error = next((str(op.args.get("name")) for op in ops if op.kind == "error"), None)
    closed_by, closed_at = "deadline", ops[-1].t if ops else 0.0
    for op in ops:
        event = _close_event(op)
        if event is not None:
            closed_by, closed_at = event, op.t
            break
    expected = [op.args for op in ops if op.kind == "expect"]
    sent_stream = b"".join(op.data or b"" for op in ops if op.kind == "send")
    responses, protocol_error = parse_responses(stream, ended=closed_by == "server_fin", sent=sent_stream)
    results = []
    for position, response in enumerate(responses):
        digest = sha256_hex(response.body)
        expected_ok: bool | None = None
        if position < len(expected):
            want = expected[position]
            expected_ok = (
                response.complete
                and response.status == 200
                and len(response.body) == want["body_len"]
                and digest == want["body_sha256"]
            )
        results.append(ResponseResult(response.status, len(response.body), digest, response.complete, expected_ok))
    origin = start if start is not None else closed_at
    return ConnectionResult(
        index=history.index,
        responses=tuple(results),
        bytes_sent=sent,
        bytes_received=len(stream),
        error=error,
        closed_by=closed_by,
        elapsed_s=round(max(0.0, closed_at - origin), 6),
        first_byte_s=None if first_byte is None else round(first_byte - origin, 6),
        protocol_error=protocol_error,
        connect_s=_connect_seconds(connect),
    )


def _connect_seconds(connect: Op | None) -> float:
    """How long connect() took (0: it did not complete, or the history predates the field)."""
    value = connect.args.get("connect_s") if connect is not None else None
    return float(value) if isinstance(value, (int, float)) else 0.0


def summarize_run(history: RunHistory) -> RunResult:
    """The typed result of a history (pure: same history, same result); the lab reads the same type back."""
    connections = tuple(summarize_connection(conn) for conn in history.connections)
    return RunResult(
        behaviour=history.behaviour,
        seed=history.seed,
        attributes=history.attributes,
        duration_s=history.duration_s,
        connections=connections,
        summary=run_summary(connections),
        target=history.target,
        replayed_from=history.replayed_from,
    )


def summarize(history: RunHistory) -> dict[str, Any]:
    """The ``run --json`` result of a history, as printed."""
    return summarize_run(history).to_json()


TIMING_FIELDS = frozenset({"duration_s", "elapsed_s", "first_byte_s", "connect_s"})


def without_timings(result: dict[str, Any]) -> dict[str, Any]:
    """A result minus wall-clock fields and the target, for comparing a run with its replay."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: strip(v) for k, v in value.items() if k not in TIMING_FIELDS | {"target", "replayed_from"}
            }
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    stripped: dict[str, Any] = strip(result)
    return stripped
