"""Random packet loss on the target's lab port, both ways (iptables `statistic --mode random`)."""

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
    """Each TCP segment to or from the lab port is dropped with `probability` (0..1); TCP must retransmit."""

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
        drop = f"-m statistic --mode random --probability {self.probability} -j DROP"
        return [f"-p tcp --dport {port} {drop}"], [f"-p tcp --sport {port} {drop}"]

    def apply(self, lab: FaultLab, history: FaultHistory) -> None:
        ingress, egress = self.rules(int(lab.config.target_port))
        run_in_namespace(lab, install_script(ingress, egress), f"packet loss {self.probability:.0%}")

    def lift(self, lab: FaultLab) -> str | None:
        listing = lift_in_namespace(lab, remove_script(), "removing the packet rules")
        return None if listing is None else drops_text(listing)
