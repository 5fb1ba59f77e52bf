"""The clients container taken off the lab network: its peers vanish without FIN or RST."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from lab.chaos.model.faults.base import Fault, FaultHistory, FaultLab

LAB_NETWORK = "lab"  # the compose network the clients reach the target on


@dataclass(frozen=True)
class DisconnectClients(Fault):
    kind: ClassVar[str] = "disconnect_clients"

    def apply(self, lab: FaultLab, history: FaultHistory) -> None:
        lab.network(LAB_NETWORK).disconnect(lab.container("clients"), force=True)

    def lift(self, lab: FaultLab) -> str | None:
        clients = lab.container("clients")
        network = lab.network(LAB_NETWORK)
        network.reload()
        if clients.id not in {container.id for container in network.containers}:
            network.connect(clients)
        return None
