"""Runs a behaviour's connections with bounded concurrency and one deadline; replays histories."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from clients.executor import Connection
from clients.history import ConnectionHistory, Op, RunHistory
from clients.registry import (
    AttrValue,
    BadArgument,
    ConnectionView,
    PlanContext,
    connection_rng,
    get_behaviour,
)
from clients.steps import (
    Close,
    ConnectOptions,
    Expect,
    Pause,
    ReadOnce,
    ReadResponses,
    ReadToEnd,
    Reset,
    Send,
    ShutdownWrite,
    Stall,
    Step,
)

MAX_CONNECTIONS = 10_000
MAX_CONCURRENCY = 2_000


@dataclass(frozen=True)
class Target:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_target(text: str) -> Target:
    """``HOST:PORT`` or ``[V6]:PORT``; raises BadArgument."""
    host, sep, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise BadArgument(f"bad target {text!r}: expected HOST:PORT with a port in 1-65535")
    return Target(host, int(port_text))


def check_counts(connections: int, concurrency: int | None) -> None:
    if not 1 <= connections <= MAX_CONNECTIONS:
        raise BadArgument(f"--connections must be in 1-{MAX_CONNECTIONS}, got {connections}")
    if concurrency is not None and not 1 <= concurrency <= MAX_CONCURRENCY:
        raise BadArgument(f"--concurrency must be in 1-{MAX_CONCURRENCY}, got {concurrency}")


def run_behaviour(
    name: str,
    target: Target,
    *,
    seed: int,
    connections: int = 1,
    concurrency: int | None = None,
    overrides: Mapping[str, str] | None = None,
) -> RunHistory:
    """Run ``connections`` connections of a behaviour against ``target`` only, within max_duration_s."""
    cls = get_behaviour(name)
    values = cls.resolve(overrides or {})
    check_counts(connections, concurrency)
    behaviour = cls(values)
    behaviour.validate()
    if concurrency is None:
        default = connections if cls.default_concurrency is None else cls.default_concurrency
        concurrency = min(connections, default, MAX_CONCURRENCY)
    origin = time.monotonic()
    deadline = origin + behaviour.max_duration_s

    def one(index: int) -> ConnectionHistory:
        view = ConnectionView()
        context = PlanContext(index, connection_rng(seed, name, index), str(target), view)
        connection = Connection(
            (target.host, target.port), behaviour.connect_options(), view, origin=origin, deadline=deadline
        )
        return ConnectionHistory(index, connection.run(behaviour.plan(context)))

    histories = _run_indexed(one, list(range(connections)), concurrency)
    return RunHistory(
        behaviour=name,
        seed=seed,
        target=str(target),
        attributes=dict(values),
        concurrency=concurrency,
        duration_s=round(time.monotonic() - origin, 6),
        connections=histories,
    )


def steps_from_ops(ops: list[Op]) -> tuple[ConnectOptions, list[Step]]:
    """The client's side of a recorded connection as steps; observations are left out."""
    options = ConnectOptions()
    steps: list[Step] = []
    for op in ops:
        if op.kind == "connect":
            rcvbuf = op.args.get("rcvbuf_bytes")
            options = ConnectOptions(bool(op.args.get("nodelay", True)), int(rcvbuf) if rcvbuf else None)
        elif op.kind == "send":
            steps.append(Send(op.data or b""))
        elif op.kind == "pause":
            steps.append(Pause(float(_number(op.args["seconds"]))))
        elif op.kind == "stall":
            steps.append(Stall(float(_number(op.args["seconds"]))))
        elif op.kind == "read":
            until = op.args["until"]
            if until == "responses":
                steps.append(ReadResponses(int(_number(op.args["count"]))))
            elif until == "once":
                steps.append(ReadOnce(int(_number(op.args["max_bytes"]))))
            else:
                steps.append(ReadToEnd())
        elif op.kind == "shutdown":
            steps.append(ShutdownWrite())
        elif op.kind == "reset":
            steps.append(Reset())
        elif op.kind == "close":
            steps.append(Close())
        elif op.kind == "expect":
            steps.append(Expect(int(_number(op.args["body_len"])), str(op.args["body_sha256"])))
    return options, steps


def replay(history: RunHistory, target: Target | None = None, *, source: str = "") -> RunHistory:
    """Play a history again: the same sends split for split, the same pauses, each connection
    starting at its recorded offset; optionally against another target."""
    where = target or parse_target(history.target)
    max_duration = float(history.attributes.get("max_duration_s", 60.0))
    origin = time.monotonic()
    deadline = origin + max_duration
    recorded = {conn.index: conn for conn in history.connections}

    def one(index: int) -> ConnectionHistory:
        ops = recorded[index].ops
        start = next((op.t for op in ops if op.kind == "connect"), None)
        if start is None:  # the original never connected (it ran out of time first)
            return ConnectionHistory(index, [Op(round(time.monotonic() - origin, 6), "deadline")])
        _wait_until(origin + start)
        options, steps = steps_from_ops(ops)
        connection = Connection(
            (where.host, where.port), options, ConnectionView(), origin=origin, deadline=deadline
        )
        return ConnectionHistory(index, connection.run(steps))

    indexes = sorted(recorded)
    histories = _run_indexed(one, indexes, min(max(1, history.concurrency), MAX_CONCURRENCY))
    return RunHistory(
        behaviour=history.behaviour,
        seed=history.seed,
        target=str(where),
        attributes=history.attributes,
        concurrency=history.concurrency,
        duration_s=round(time.monotonic() - origin, 6),
        connections=histories,
        replayed_from=source or history.target,
    )


def _number(value: AttrValue | None) -> float:
    assert isinstance(value, int | float), value
    return value


def _wait_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _run_indexed(
    one: Callable[[int], ConnectionHistory], indexes: list[int], concurrency: int
) -> list[ConnectionHistory]:
    if concurrency == 1:
        return [one(index) for index in indexes]
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="conn") as pool:
        return list(pool.map(one, indexes))
