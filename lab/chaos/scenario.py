"""A chaos case as data: which clients, which toxics, which container fault, and how to judge it.

The runner (lab.chaos.runner) interprets these; pytest and `python -m lab run` share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from clients.registry import get_behaviour
from lab.chaos import faults
from lab.toxics import Toxic

Route = Literal["direct", "proxied"]

# Deadlines the lab configures on every target (docs/architecture.md); checks allow GRACE_S on top.
HEADER_TIMEOUT_S = 2.0
IDLE_TIMEOUT_S = 5.0
WRITE_TIMEOUT_S = 5.0
GRACE_S = 2.5

ERROR_STATUSES = frozenset({*range(400, 500), 501, 505})


@dataclass(frozen=True)
class Expect:
    """What a well-built server does to one client connection."""

    responses: int = 1  # complete responses the connection must get, else `stall`
    statuses: frozenset[int] | None = frozenset({200})  # allowed statuses (None: any), else `wrong_response`
    cut_off_s: float | None = None  # the server must close the connection within this, else `no_timeout`


OK = Expect()
ANYTHING = Expect(responses=0, statuses=None)
REJECTED = Expect(responses=1, statuses=ERROR_STATUSES)


@dataclass(frozen=True)
class ClientRun:
    """One `python -m clients run` in the clients container."""

    behaviour: str
    attributes: tuple[tuple[str, object], ...] = ()
    connections: int = 1
    concurrency: int | None = None
    route: Route = "direct"  # "proxied": through Toxiproxy (which does not forward half-close)
    expect: Expect = OK

    def resolved_attributes(self) -> dict[str, object]:
        """Every attribute with the behaviour's defaults filled in (BadArgument if one is wrong)."""
        behaviour = get_behaviour(self.behaviour)
        return dict(behaviour.resolve({key: attribute_text(value) for key, value in self.attributes}))

    def max_duration_s(self) -> float:
        return float(self.resolved_attributes()["max_duration_s"])  # type: ignore[arg-type]

    def describe(self) -> str:
        attrs = " ".join(f"{key}={value}" for key, value in self.attributes)
        return f"{self.connections} × {self.behaviour}" + (f" ({attrs})" if attrs else "")


def attribute_text(value: object) -> str:
    """An attribute as `python -m clients run --set` spells it."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def client(behaviour: str, *, connections: int = 1, concurrency: int | None = None, route: Route = "direct",
           expect: Expect = OK, **attributes: object) -> ClientRun:
    return ClientRun(behaviour, tuple(sorted(attributes.items())), connections, concurrency, route, expect)


# -- faults: lab.chaos.faults (one module each), importable from here too --------------------------
Fault = faults.Fault
KillClients = faults.KillClients
PauseClients = faults.PauseClients
DisconnectClients = faults.DisconnectClients
ProxyDownUp = faults.ProxyDownUp
StopTarget = faults.StopTarget
PacketLoss = faults.PacketLoss
Blackhole = faults.Blackhole
Netem = faults.Netem


# -- the case --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limits:
    """Bounds the checks apply; defaults suit a small server."""

    settle_s: float = IDLE_TIMEOUT_S + GRACE_S  # fds and sockets back to baseline within this
    idle_window_s: float = 1.5  # CPU measured over this after the case
    busy_window_s: float = 2.5  # and over this while clients hold on (Scenario.cpu_during_s)
    max_idle_cpu: float = 0.2  # share of one core during the idle window
    max_rss_growth_bytes: int = 64 << 20
    canary_max_s: float = 1.0  # every canary request within this
    canary_p50_s: float = 0.1


@dataclass(frozen=True)
class Scenario:
    """One chaos case. `id` is what reports, `make repro CASE=` and the scorecard use."""

    id: str
    summary: str
    clients: tuple[ClientRun, ...]
    toxics: tuple[Toxic, ...] = ()
    fault: Fault | None = None
    canary: bool = False
    cpu_during_s: float = 0.0  # also measure CPU while clients still run, after this delay (fd exhaustion)
    target_nofile: int | None = None  # run the target with this fd limit
    triggers: tuple[str, ...] = ("level", "edge")  # bundled server modes to run it in
    requires: frozenset[str] = frozenset()  # "stats": needs the bundled server's /__lab/stats
    limits: Limits = field(default_factory=Limits)

    def describe(self) -> str:
        parts = [client.describe() + f" [{client.route}]" for client in self.clients]
        parts += [toxic.describe() for toxic in self.toxics]
        if self.fault:
            parts.append(self.fault.describe())
        if self.target_nofile:
            parts.append(f"target nofile={self.target_nofile}")
        return "; ".join(parts)
