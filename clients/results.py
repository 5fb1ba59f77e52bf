"""The result of a client run: one schema, written by the clients (`run --json`) and read by the lab.

Standard library only. `clients.history.summarize_run` builds these from an operation history; the lab reads the
printed JSON back with `RunResult.from_json`, which validates every field (docs/architecture.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CLOSED_BY = frozenset({"server_fin", "server_reset", "client", "deadline"})


class ClientResultError(ValueError):
    """The clients printed something that is not a run result."""


def _field(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...], *, optional: bool = False,
           where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ClientResultError(f"{where}: expected an object, got {type(data).__name__}")
    if name not in data:
        raise ClientResultError(f"{where}: missing {name!r}")
    value = data[name]
    if value is None and optional:
        return None
    # bool is an int in Python: a count or a time must not be one.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        raise ClientResultError(f"{where}: {name!r} is {value!r}, not {_kind_names(kind)}")
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_names(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _kinds(kind))


@dataclass(frozen=True)
class ResponseResult:
    """One response a connection read, as far as it got."""

    status: int
    body_len: int
    body_sha256: str
    complete: bool  # the whole response arrived (its framing ended)
    expected_ok: bool | None  # the body matched the known answer byte for byte; None: no known answer

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "response") -> ResponseResult:
        return cls(status=_field(data, "status", int, where=where),
                   body_len=_field(data, "body_len", int, where=where),
                   body_sha256=_field(data, "body_sha256", str, where=where),
                   complete=_field(data, "complete", bool, where=where),
                   expected_ok=_field(data, "expected_ok", bool, optional=True, where=where))

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "body_len": self.body_len, "body_sha256": self.body_sha256,
                "complete": self.complete, "expected_ok": self.expected_ok}

    @property
    def wrong_body(self) -> bool:
        """A whole 200 whose body is not the known answer (other statuses are judged by their status)."""
        return self.complete and self.status == 200 and self.expected_ok is False


@dataclass(frozen=True)
class ConnectionResult:
    """One connection of a run."""

    index: int
    responses: tuple[ResponseResult, ...]
    bytes_sent: int
    bytes_received: int
    error: str | None  # a short name such as ECONNRESET
    closed_by: str  # one of CLOSED_BY
    elapsed_s: float
    first_byte_s: float | None
    protocol_error: str | None  # bytes that are not a valid HTTP response
    # How long connect() took (within elapsed_s): a SYN lost and sent again waits 1 s, then 2 s more. A server's
    # deadline cannot start before the connection is established.
    connect_s: float = 0.0

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "connection") -> ConnectionResult:
        index = _field(data, "index", int, where=where)
        where = f"{where} #{index}"
        raw = _field(data, "responses", list, where=where)
        closed_by = _field(data, "closed_by", str, where=where)
        if closed_by not in CLOSED_BY:
            raise ClientResultError(f"{where}: closed_by {closed_by!r} is not one of {sorted(CLOSED_BY)}")
        first_byte = _field(data, "first_byte_s", (int, float), optional=True, where=where)
        return cls(index=index,
                   responses=tuple(ResponseResult.from_json(r, f"{where} response {n}") for n, r in enumerate(raw, 1)),
                   bytes_sent=_field(data, "bytes_sent", int, where=where),
                   bytes_received=_field(data, "bytes_received", int, where=where),
                   error=_field(data, "error", str, optional=True, where=where),
                   closed_by=closed_by,
                   elapsed_s=float(_field(data, "elapsed_s", (int, float), where=where)),
                   first_byte_s=None if first_byte is None else float(first_byte),
                   protocol_error=_field(data, "protocol_error", str, optional=True, where=where),
                   connect_s=(float(_field(data, "connect_s", (int, float), where=where))
                              if "connect_s" in data else 0.0))  # results saved before it was recorded

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "responses": [r.to_json() for r in self.responses],
                "bytes_sent": self.bytes_sent, "bytes_received": self.bytes_received, "error": self.error,
                "closed_by": self.closed_by, "elapsed_s": self.elapsed_s, "first_byte_s": self.first_byte_s,
                "protocol_error": self.protocol_error, "connect_s": self.connect_s}

    @property
    def closed_by_server(self) -> bool:
        return self.closed_by in ("server_fin", "server_reset")

    def complete_responses(self, statuses: frozenset[int] | None) -> int:
        """Responses that arrived whole with an allowed status (None: any status)."""
        return sum(1 for r in self.responses if r.complete and (statuses is None or r.status in statuses))


@dataclass(frozen=True)
class RunResult:
    """One `python -m clients run --json`: every connection, and the clients' own summary (for people)."""

    behaviour: str
    seed: int
    attributes: Mapping[str, Any]
    duration_s: float
    connections: tuple[ConnectionResult, ...]
    summary: Mapping[str, Any]
    target: str = ""
    replayed_from: str | None = None  # `replay`: the history file it replayed

    @classmethod
    def from_json(cls, data: Any) -> RunResult:
        where = "run result"
        raw = _field(data, "connections", list, where=where)
        return cls(behaviour=_field(data, "behaviour", str, where=where),
                   seed=_field(data, "seed", int, where=where),
                   attributes=dict(_field(data, "attributes", dict, where=where)),
                   duration_s=float(_field(data, "duration_s", (int, float), where=where)),
                   connections=tuple(ConnectionResult.from_json(c) for c in raw),
                   summary=dict(_field(data, "summary", dict, where=where)),
                   target=_field(data, "target", str, where=where) if "target" in data else "",
                   replayed_from=(_field(data, "replayed_from", str, optional=True, where=where)
                                  if "replayed_from" in data else None))

    def to_json(self) -> dict[str, Any]:
        encoded: dict[str, Any] = {
            "behaviour": self.behaviour, "seed": self.seed, "target": self.target,
            "attributes": dict(self.attributes), "duration_s": self.duration_s,
            "connections": [c.to_json() for c in self.connections], "summary": dict(self.summary)}
        if self.replayed_from is not None:
            encoded["replayed_from"] = self.replayed_from
        return encoded


def run_summary(connections: tuple[ConnectionResult, ...]) -> dict[str, Any]:
    """The counts people read in `run --json`'s `summary`."""
    statuses: Counter[str] = Counter()
    expected: Counter[str] = Counter()
    for connection in connections:
        for response in connection.responses:
            statuses[str(response.status)] += 1
            if response.expected_ok is not None:
                expected["ok" if response.expected_ok else "failed"] += 1
    return {
        "connections": len(connections),
        "responses": sum(statuses.values()),
        "status": dict(sorted(statuses.items())),
        "expected_ok": expected["ok"],
        "expected_failed": expected["failed"],
        "errors": dict(sorted(Counter(c.error for c in connections if c.error).items())),
        "closed_by": dict(sorted(Counter(c.closed_by for c in connections).items())),
        "bytes_sent": sum(c.bytes_sent for c in connections),
        "bytes_received": sum(c.bytes_received for c in connections),
    }
