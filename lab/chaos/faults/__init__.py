"""Faults: one small module per fault, each a frozen dataclass that applies and lifts itself."""

from lab.chaos.faults.base import Fault, FaultHistory, FaultLab, FaultUnavailable
from lab.chaos.faults.blackhole import Blackhole
from lab.chaos.faults.disconnect_clients import DisconnectClients
from lab.chaos.faults.kill_clients import KillClients
from lab.chaos.faults.netem import Netem
from lab.chaos.faults.packet_loss import PacketLoss
from lab.chaos.faults.pause_clients import PauseClients
from lab.chaos.faults.proxy_down_up import ProxyDownUp
from lab.chaos.faults.stop_target import StopTarget

__all__ = ["Blackhole", "DisconnectClients", "Fault", "FaultHistory", "FaultLab", "FaultUnavailable", "KillClients",
           "Netem", "PacketLoss", "PauseClients", "ProxyDownUp", "StopTarget"]
