"""One client's traffic dropped both ways: to the server that peer vanishes with no FIN and no RST."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from lab.chaos.model.faults.base import Fault, FaultHistory, FaultLab
from lab.chaos.model.faults.packet_rules import (
    drops_text,
    install_script,
    lift_in_namespace,
    list_peers,
    remove_script,
    run_in_namespace,
)
from lab.errors import LabError


@dataclass(frozen=True)
class Blackhole(Fault):
    """Every segment from and to one connected peer (address and port) is dropped until lifted.

    The peer is the target's first ESTABLISHED connection on the lab port, by address and port.
    """

    kind: ClassVar[str] = "blackhole"
    hold_s: float | None = None

    @staticmethod
    def rules(address: str, peer_port: int, port: int) -> tuple[list[str], list[str]]:
        return ([f"-p tcp -s {address} --sport {peer_port} --dport {port} -j DROP"],
                [f"-p tcp -d {address} --dport {peer_port} --sport {port} -j DROP"])

    def apply(self, lab: FaultLab, history: FaultHistory) -> None:
        peers = list_peers(lab)
        if not peers:
            raise LabError("blackhole: the target holds no ESTABLISHED connection on its lab port")
        address, peer_port = peers[0]
        ingress, egress = self.rules(address, peer_port, int(lab.config.target_port))
        run_in_namespace(lab, install_script(ingress, egress), f"blackhole of {address}:{peer_port}")

    def lift(self, lab: FaultLab) -> str | None:
        listing = lift_in_namespace(lab, remove_script(), "removing the packet rules")
        return None if listing is None else drops_text(listing)
