"""`docker pause` of the clients container: its sockets stop reading and writing (the kernel still ACKs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from lab.chaos.faults.base import Fault, FaultHistory, FaultLab


@dataclass(frozen=True)
class PauseClients(Fault):
    kind: ClassVar[str] = "pause_clients"

    def apply(self, lab: FaultLab, history: FaultHistory) -> None:
        lab.container("clients").pause()

    def lift(self, lab: FaultLab) -> str | None:
        clients = lab.container("clients")
        clients.reload()
        if clients.status == "paused":
            clients.unpause()
        return None
