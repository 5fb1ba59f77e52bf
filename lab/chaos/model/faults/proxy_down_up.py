"""Toxiproxy's proxy disabled (every connection through it closed), then enabled again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from lab.chaos.model.faults.base import Fault, FaultHistory, FaultLab
from lab.settings import PROXY_NAME


@dataclass(frozen=True)
class ProxyDownUp(Fault):
    kind: ClassVar[str] = "proxy_down_up"

    def apply(self, lab: FaultLab, history: FaultHistory) -> None:
        lab.toxiproxy().set_enabled(PROXY_NAME, False)

    def lift(self, lab: FaultLab) -> str | None:
        lab.toxiproxy().set_enabled(PROXY_NAME, True)
        return None
