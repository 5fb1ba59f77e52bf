"""Faults: one small module per fault, each a frozen dataclass that applies and lifts itself."""

from lab.chaos.model.faults.base import Fault, FaultHistory, FaultLab, FaultUnavailable
from lab.chaos.model.faults.blackhole import Blackhole
from lab.chaos.model.faults.disconnect_clients import DisconnectClients
from lab.chaos.model.faults.kill_clients import KillClients
from lab.chaos.model.faults.netem import Netem
from lab.chaos.model.faults.packet_loss import PacketLoss
from lab.chaos.model.faults.pause_clients import PauseClients
from lab.chaos.model.faults.proxy_down_up import ProxyDownUp
from lab.chaos.model.faults.stop_target import StopTarget

__all__ = ["Blackhole", "DisconnectClients", "Fault", "FaultHistory", "FaultLab", "FaultUnavailable", "KillClients",
           "Netem", "PacketLoss", "PauseClients", "ProxyDownUp", "StopTarget"]
