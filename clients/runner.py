"""Runs a behaviour's connections with bounded concurrency and one deadline; replays histories."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from clients.executor import Connection
from clients.history import ConnectionHistory, Op, RunHistory
from clients.registry import (
    MAX_DURATION_LIMIT_S,
    BadArgument,
    ConnectionView,
    PlanContext,
    connection_rng,
    get_behaviour,
    max_duration,
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
MAX_CONCURRENCY = 5_000  # one thread each: a fleet's container holds 4,000 (lab case fleet_16000)
# Connections opening at once per run: from the connect until the first pause (a flood's GET answered).
# Thousands of SYNs at once from the lab's containers overflow the host's per-CPU backlog
# (net.core.netdev_max_backlog, 1,000) on their way through the bridge and drop packets, the canary's SYN
# among them (a 1 s or 3 s retransmission): this machine's limit, not the target's. And thousands of
# connections queued in the target's accept backlog put a fresh canary connection behind all of them.
# Connections are still held together; only their opening is paced.
MAX_OPENING = 64
DEFAULT_REPLAY_BOUND_S = 60.0  # for a history without max_duration_s


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


def resolve_once(target: Target) -> tuple[str, int]:
    """The target's address, looked up once per run: thousands of lookups at once overwhelm a resolver
    (Docker's embedded DNS answers some with an error). Unresolvable: the name, and each connection
    records the failure itself."""
    try:
        return str(socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)[0][4][0]), target.port
    except OSError:
        return target.host, target.port


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
    address = resolve_once(target)
    gate = threading.BoundedSemaphore(MAX_OPENING)
    origin = time.monotonic()
    deadline = origin + behaviour.max_duration_s

    def one(index: int) -> ConnectionHistory:
        view = ConnectionView()
        context = PlanContext(index, connection_rng(seed, name, index), str(target), view)
        connection = Connection(address, behaviour.connect_options(), view, origin=origin, deadline=deadline,
                                opening_gate=gate)
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
    """The client's side of a recorded connection as steps; observations are left out.

    Raises BadArgument for an operation whose arguments no run could have recorded.
    """
    options = ConnectOptions()
    steps: list[Step] = []
    for op in ops:
        try:
            step = _step_from_op(op)
            if op.kind == "connect":
                rcvbuf = op.args.get("rcvbuf_bytes")
                rcvbuf_bytes = None if rcvbuf is None else _count(rcvbuf, minimum=1)
                options = ConnectOptions(bool(op.args.get("nodelay", True)), rcvbuf_bytes)
        except (KeyError, ValueError) as exc:
            raise BadArgument(f"bad {op.kind!r} operation at t={op.t}: {exc}") from None
        if step is not None:
            steps.append(step)
    return options, steps


def _step_from_op(op: Op) -> Step | None:
    args = op.args
    match op.kind:
        case "send":
            return Send(op.data or b"")
        case "pause":
            return Pause(_seconds(args["seconds"]))
        case "stall":
            return Stall(_seconds(args["seconds"]))
        case "read" if args["until"] == "responses":
            return ReadResponses(_count(args["count"], minimum=0))
        case "read" if args["until"] == "once":
            return ReadOnce(_count(args["max_bytes"], minimum=1))
        case "read" if args["until"] == "end":
            return ReadToEnd()
        case "read":
            raise ValueError(f"unknown read {args['until']!r}")
        case "shutdown":
            return ShutdownWrite()
        case "reset":
            return Reset()
        case "close":
            return Close()
        case "expect":
            return Expect(_count(args["body_len"], minimum=0), str(args["body_sha256"]))
    return None  # an observation (recv, peer_closed, error, deadline) or the connect itself


def _seconds(value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= MAX_DURATION_LIMIT_S:
        raise ValueError(f"{value!r} is not a number of seconds")
    return float(value)


def _count(value: object, *, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{value!r} is not an integer >= {minimum}")
    return value


def replay(history: RunHistory, target: Target | None = None, *, source: str = "") -> RunHistory:
    """Play a history again: the same sends split for split, the same pauses, each connection
    starting at its recorded offset; optionally against another target. Raises BadArgument."""
    where = target or parse_target(history.target)
    if not 1 <= len(history.connections) <= MAX_CONNECTIONS:
        raise BadArgument(f"a history must hold 1-{MAX_CONNECTIONS} connections, not {len(history.connections)}")
    max_duration = replay_bound(history)
    # Checked before anything is sent: a broken file fails as a whole.
    plans = {conn.index: (conn.ops, *steps_from_ops(conn.ops)) for conn in history.connections}
    address = resolve_once(where)
    gate = threading.BoundedSemaphore(MAX_OPENING)
    origin = time.monotonic()
    deadline = origin + max_duration

    def one(index: int) -> ConnectionHistory:
        ops, options, steps = plans[index]
        start = next((op.t for op in ops if op.kind == "connect"), None)
        if start is None:  # the original never connected (it ran out of time first)
            return ConnectionHistory(index, [Op(round(time.monotonic() - origin, 6), "deadline")])
        _wait_until(min(origin + start, deadline))
        connection = Connection(address, options, ConnectionView(), origin=origin, deadline=deadline,
                                opening_gate=gate)
        return ConnectionHistory(index, connection.run(steps))

    histories = _run_indexed(one, sorted(plans), min(max(1, history.concurrency), MAX_CONCURRENCY))
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


def replay_bound(history: RunHistory) -> float:
    """The recorded run's max_duration_s, checked as if given with --set; raises BadArgument."""
    text = str(history.attributes.get("max_duration_s", DEFAULT_REPLAY_BOUND_S))
    return float(max_duration(DEFAULT_REPLAY_BOUND_S).parse(text))


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
