"""Random packet loss on the target's lab port, both ways (iptables `statistic --mode random`).

The handshake is spared. A lost SYN or SYN-ACK is the kernel's alone (no server sees a connection before
accept), yet it costs a connection far more than the loss: connect() waits 1 s per lost SYN, and a handshake
with a retransmission leaves both ends' retransmission timeout at 3 s (RFC 6298 5.7). A request lost after that
arrives 3 s late, after any header deadline under 3 s, and a correct server rightly answers 408."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from lab.chaos.model.faults.base import Fault, FaultHistory, FaultLab
from lab.chaos.model.faults.packet_rules import (
    drops_text,
    install_script,
    lift_in_namespace,
    remove_script,
    run_in_namespace,
)


@dataclass(frozen=True)
class PacketLoss(Fault):
    """Each TCP segment to or from the lab port but the handshake's (SYN, SYN-ACK) is dropped with `probability`
    (0..1); TCP must retransmit."""

    kind: ClassVar[str] = "packet_loss"
    probability: float = 0.05  # share of segments dropped, each direction
    when_established: int = 0
    hold_s: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.probability < 1:
            raise ValueError(f"packet loss probability must be in (0, 1), not {self.probability}")

    def details(self) -> str:
        return f" {self.probability:.0%}"

    def rules(self, port: int) -> tuple[list[str], list[str]]:
        drop = f"--tcp-flags SYN NONE -m statistic --mode random --probability {self.probability} -j DROP"
        return [f"-p tcp --dport {port} {drop}"], [f"-p tcp --sport {port} {drop}"]

    def apply(self, lab: FaultLab, history: FaultHistory) -> None:
        ingress, egress = self.rules(int(lab.config.target_port))
        run_in_namespace(lab, install_script(ingress, egress), f"packet loss {self.probability:.0%}")

    def lift(self, lab: FaultLab) -> str | None:
        listing = lift_in_namespace(lab, remove_script(), "removing the packet rules")
        return None if listing is None else drops_text(listing)
