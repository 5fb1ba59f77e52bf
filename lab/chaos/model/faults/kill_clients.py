"""`docker kill` of the clients container mid-request (the runner restarts it afterwards)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from lab.chaos.model.faults.base import Fault, FaultHistory, FaultLab


@dataclass(frozen=True)
class KillClients(Fault):
    """The clients' processes die at once: their sockets are closed by the kernel (FIN or RST)."""

    kind: ClassVar[str] = "kill_clients"
    kills_clients: ClassVar[bool] = True

    def apply(self, lab: FaultLab, history: FaultHistory) -> None:
        lab.container("clients").kill()
