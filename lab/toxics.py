"""Toxiproxy's faults as small named types, with their units in the attribute names.

Mind the units: `slicer.delay` is in microseconds, every other toxic takes milliseconds.
Streams: "downstream" is target → client, "upstream" is client → target.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

Stream = Literal["upstream", "downstream"]


@dataclass(frozen=True)
class Toxic:
    """One fault on one direction of the proxy. Subclasses name the Toxiproxy type."""

    kind: ClassVar[str]
    stream: Stream = "downstream"
    toxicity: float = 1.0  # probability the toxic applies to a connection

    @property
    def name(self) -> str:
        return f"{self.kind}_{self.stream}"

    def attributes(self) -> dict[str, int]:
        raise NotImplementedError

    def to_api(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.kind, "stream": self.stream,
                "toxicity": self.toxicity, "attributes": self.attributes()}

    def describe(self) -> str:
        own = [f"{f.name}={getattr(self, f.name)}" for f in fields(self) if f.name not in ("stream", "toxicity")]
        return f"{self.kind}({', '.join(own)}, {self.stream})"


@dataclass(frozen=True)
class Latency(Toxic):
    """Delays every chunk by latency_ms ± jitter_ms."""

    kind: ClassVar[str] = "latency"
    latency_ms: int = 0
    jitter_ms: int = 0

    def attributes(self) -> dict[str, int]:
        return {"latency": self.latency_ms, "jitter": self.jitter_ms}


@dataclass(frozen=True)
class Bandwidth(Toxic):
    """Caps throughput at rate_kbps kilobytes per second."""

    kind: ClassVar[str] = "bandwidth"
    rate_kbps: int = 0

    def attributes(self) -> dict[str, int]:
        return {"rate": self.rate_kbps}


@dataclass(frozen=True)
class SlowClose(Toxic):
    """Delays the close of the connection by delay_ms."""

    kind: ClassVar[str] = "slow_close"
    delay_ms: int = 0

    def attributes(self) -> dict[str, int]:
        return {"delay": self.delay_ms}


@dataclass(frozen=True)
class Timeout(Toxic):
    """Stops all data; closes after timeout_ms (0: never closes)."""

    kind: ClassVar[str] = "timeout"
    timeout_ms: int = 0

    def attributes(self) -> dict[str, int]:
        return {"timeout": self.timeout_ms}


@dataclass(frozen=True)
class ResetPeer(Toxic):
    """Resets the connection (RST) after timeout_ms; Toxiproxy sets linger 0 while it is in the chain."""

    kind: ClassVar[str] = "reset_peer"
    timeout_ms: int = 0

    def attributes(self) -> dict[str, int]:
        return {"timeout": self.timeout_ms}


@dataclass(frozen=True)
class Slicer(Toxic):
    """Slices data into average_size_bytes ± size_variation_bytes pieces, delay_us MICROseconds apart."""

    kind: ClassVar[str] = "slicer"
    average_size_bytes: int = 1
    size_variation_bytes: int = 0
    delay_us: int = 0

    def attributes(self) -> dict[str, int]:
        return {"average_size": self.average_size_bytes, "size_variation": self.size_variation_bytes,
                "delay": self.delay_us}


@dataclass(frozen=True)
class LimitData(Toxic):
    """Closes the connection after limit_bytes have passed."""

    kind: ClassVar[str] = "limit_data"
    limit_bytes: int = 0

    def attributes(self) -> dict[str, int]:
        return {"bytes": self.limit_bytes}


TOXIC_TYPES: dict[str, type[Toxic]] = {
    cls.kind: cls for cls in (Latency, Bandwidth, SlowClose, Timeout, ResetPeer, Slicer, LimitData)
}
