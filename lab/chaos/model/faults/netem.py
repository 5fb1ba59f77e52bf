"""Delay, loss, reordering and duplication of the target's outgoing packets with netem (tc), where the kernel has it.

A kernel without sch_netem makes `apply` raise FaultUnavailable: the case is skipped with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from lab.chaos.model.faults.base import Fault, FaultHistory, FaultLab
from lab.chaos.model.faults.packet_rules import NETEM_REMOVE, lift_in_namespace, netem_script, run_in_namespace


@dataclass(frozen=True)
class Netem(Fault):
    """netem on the egress of the target's interfaces (so on every packet it sends)."""

    kind: ClassVar[str] = "netem"
    delay_ms: float = 0.0  # added to every packet
    jitter_ms: float = 0.0  # ± on the delay
    loss_percent: float = 0.0  # packets dropped
    reorder_percent: float = 0.0  # packets sent at once, ahead of delayed ones (needs a delay)
    duplicate_percent: float = 0.0  # packets sent twice
    when_established: int = 0
    hold_s: float | None = None

    def netem_args(self) -> str:
        parts = []
        if self.delay_ms:
            parts.append(f"delay {self.delay_ms:g}ms" + (f" {self.jitter_ms:g}ms" if self.jitter_ms else ""))
        for name, value in (("loss", self.loss_percent), ("reorder", self.reorder_percent),
                            ("duplicate", self.duplicate_percent)):
            if value:
                parts.append(f"{name} {value:g}%")
        return " ".join(parts) or "delay 0ms"

    def details(self) -> str:
        return f" {self.netem_args()}"

    def apply(self, lab: FaultLab, history: FaultHistory) -> None:
        run_in_namespace(lab, netem_script(self.netem_args()), f"netem {self.netem_args()}")

    def lift(self, lab: FaultLab) -> str | None:
        lift_in_namespace(lab, NETEM_REMOVE, "removing netem")
        return None
